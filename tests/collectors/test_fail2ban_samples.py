"""fail2ban's annotated samples: lines fail2ban bans on must come out as failures from the
right address (>= 99% per file). 'Accepted ...' lines that fail2ban counts (for failures logged
earlier by the same connection) must come out as successes: a login did succeed."""
import pytest

from collectors.parsers.catalog import build_parser, default_registry
from tests.collectors.fail2ban_samples import annotated_lines, samples_dir

pytestmark = pytest.mark.skipif(samples_dir() is None, reason="fail2ban samples not present")

CASES = [("sshd", "sshd"), ("sshd-journal", "sshd"), ("nginx-http-auth", "nginx"),
         ("apache-auth", "auto"), ("apache-noscript", "apache"), ("nginx-botsearch", "auto"),
         ("pam-generic", "syslog"), ("nginx-http-auth", "auto"), ("sshd", "auto")]


@pytest.mark.parametrize("name,format_name", CASES)
def test_banned_lines_are_failures_from_the_right_address(name, format_name):
    parser = build_parser(format_name, default_registry())
    checked, good, misses = 0, 0, []
    for expected, line in annotated_lines(name):
        event = parser.parse(line)
        if not expected.get("match"):
            continue
        checked += 1
        want = "success" if line.split(": ", 1)[-1].startswith("Accepted ") else "failure"
        ok = (event is not None and event.get("event.outcome") == want
              and ("host" not in expected or event.get("source.address") == expected["host"])
              and ("user" not in expected or event.get("user.name", "") == expected["user"]))
        good += ok
        if not ok:
            misses.append(line)
    assert checked >= 8
    assert good / checked >= 0.99, misses


def test_ip_addresses_land_in_source_ip_and_host_names_in_source_domain():
    parser = build_parser("sshd", default_registry())
    by_host = {}
    for expected, line in annotated_lines("sshd"):
        event = parser.parse(line)
        if expected.get("match") and "host" in expected and event:
            by_host[expected["host"]] = event
    assert by_host["example.com"]["source.domain"] == "example.com"
    assert "source.ip" not in by_host["example.com"]
    assert by_host["aaaa:bbbb:cccc:1234::1:1"]["source.ip"] == "aaaa:bbbb:cccc:1234::1:1"
    assert by_host["1.2.3.4"]["source.ip"] == "1.2.3.4"  # also read from ::ffff:1.2.3.4
