"""Syslog headers and program parsers -> exact ECS fields."""
from datetime import datetime, timezone

from collectors.parsers.base import ParserOptions, is_unparsed
from collectors.parsers.catalog import build_parser, default_registry
from collectors.parsers.json_lines import JsonLinesParser
from collectors.parsers.sshd import MEMORY_MAX_PIDS
from collectors.parsers.syslog import SshdParser, SyslogParser

# A fixed "now": 2026-01-02 12:00 UTC, so year guessing is checkable.
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc).timestamp()
OPTIONS = ParserOptions(timezone=timezone.utc, clock=lambda: NOW)


def parse(line: str) -> dict:
    return SyslogParser(OPTIONS).parse(line)


def test_rfc3164_with_priority_and_current_year():
    event = parse("<38>Jan  2 10:00:01 web01 sshd[4242]: Accepted publickey for deploy from "
                  "2001:db8::5 port 50022 ssh2: ED25519 SHA256:abc")
    assert event["@timestamp"] == "2026-01-02T10:00:01.000000Z"
    assert event["log.syslog.priority"] == 38
    assert event["log.syslog.facility.name"] == "auth"
    assert event["log.syslog.severity.name"] == "informational"
    assert event["host.hostname"] == "web01"
    assert event["process.name"] == "sshd"
    assert event["process.pid"] == 4242
    assert event["event.dataset"] == "system.auth"
    assert event["event.action"] == "ssh_login"
    assert event["event.outcome"] == "success"
    assert event["user.name"] == "deploy"
    assert event["source.ip"] == "2001:db8::5"
    assert event["source.port"] == 50022


def test_year_rolls_back_for_stamps_more_than_a_day_ahead():
    assert parse("Dec 31 23:59:59 h cron[1]: x")["@timestamp"] == "2025-12-31T23:59:59.000000Z"
    assert parse("Jan  3 11:00:00 h cron[1]: x")["@timestamp"] == "2026-01-03T11:00:00.000000Z"
    assert parse("Feb  5 2024 14:34:10 h cron[1]: x")["@timestamp"] == \
        "2024-02-05T14:34:10.000000Z"


def test_time_zone_of_stamps_without_one():
    shanghai = SyslogParser(ParserOptions(timezone=__import__("zoneinfo").ZoneInfo(
        "Asia/Shanghai"), clock=lambda: NOW))
    event = shanghai.parse("Jan  2 18:00:00 h cron[1]: x")
    assert event["@timestamp"] == "2026-01-02T10:00:00.000000Z"


def test_iso_timestamp_header_of_modern_rsyslog():
    event = parse("2026-11-25T14:25:43.123456+08:00 host sshd[12]: Invalid user oracle from "
                  "198.51.100.7 port 40022")
    assert event["@timestamp"] == "2026-11-25T06:25:43.123456Z"
    assert event["event.action"] == "ssh_invalid_user"
    assert event["event.outcome"] == "failure"
    assert event["user.name"] == "oracle"
    assert event["source.ip"] == "198.51.100.7"


def test_rfc5424_with_structured_data():
    event = parse('<165>1 2026-11-25T14:25:43.5Z mymachine.example.com evntslog - ID47 '
                  '[exampleSDID@32473 iut="3" eventSource="Appl\\"ication"][origin ip="10.0.0.1"]'
                  ' \ufeffAn application event')
    assert event["@timestamp"] == "2026-11-25T14:25:43.500000Z"
    assert event["log.syslog.version"] == "1"
    assert event["log.syslog.msgid"] == "ID47"
    assert event["log.syslog.facility.name"] == "local4"
    assert event["log.syslog.structured_data.exampleSDID@32473.iut"] == "3"
    assert event["log.syslog.structured_data.exampleSDID@32473.eventSource"] == 'Appl"ication'
    assert event["log.syslog.structured_data.origin.ip"] == "10.0.0.1"
    assert event["message"] == "An application event"
    assert event["process.name"] == "evntslog"
    assert event["event.dataset"] == "system.syslog"


def test_rfc5424_without_structured_data_or_message():
    event = parse("<13>1 2026-11-25T14:25:43Z host app 77 - -")
    assert event["process.pid"] == 77
    assert event["message"] == ""


def test_sshd_preauth_and_memory_of_the_connection_address():
    parser = SyslogParser(OPTIONS)
    parser.parse("Jan  2 10:00:00 h sshd[900]: Connection from 192.0.2.44 port 5555 on "
                 "10.0.0.1 port 22 rdomain \"\"")
    event = parser.parse("Jan  2 10:00:01 h sshd[900]: Disconnecting: Too many authentication "
                         "failures for root [preauth]")
    assert event["event.outcome"] == "failure"
    assert event["user.name"] == "root"
    assert event["source.ip"] == "192.0.2.44"
    assert event["shouwang.ssh.preauth"] is True
    closed = parser.parse("Jan  2 10:00:02 h sshd[901]: Connection closed by authenticating "
                          "user admin 192.0.2.45 port 1234 [preauth]")
    assert (closed["user.name"], closed["source.ip"], closed["source.port"]) == \
        ("admin", "192.0.2.45", 1234)
    maximum = parser.parse("Jan  2 10:00:03 h sshd[902]: error: maximum authentication attempts "
                           "exceeded for invalid user test from 192.0.2.46 port 49940 ssh2 "
                           "[preauth]")
    assert maximum["event.action"] == "ssh_max_auth_attempts"
    assert maximum["user.name"] == "test"
    ident = parser.parse("Jan  2 10:00:04 h sshd[903]: Did not receive identification string "
                         "from 192.0.2.47 port 22")
    assert ident["event.action"] == "ssh_no_identification"
    assert ident["event.outcome"] == "failure"


def test_sshd_remembers_the_newest_processes_of_a_flood():
    parser = SyslogParser(OPTIONS)
    pids = range(1_000, 1_000 + 3 * MEMORY_MAX_PIDS)
    for pid in pids:
        parser.parse(f"Jan  2 10:00:00 h sshd[{pid}]: Connection from 192.0.2.{pid % 250 + 1} "
                     f"port 5555 on 10.0.0.1 port 22")
    newest, oldest = pids[-MEMORY_MAX_PIDS // 2], pids[0]
    later = "Jan  2 10:00:09 h sshd[{}]: Disconnecting: Too many authentication failures for root"
    assert parser.parse(later.format(newest))["source.ip"] == f"192.0.2.{newest % 250 + 1}"
    assert "source.ip" not in parser.parse(later.format(oldest))     # forgotten, bounded


def test_pam_sudo_and_su():
    pam = parse("Jan  2 10:00:00 h sshd[1]: pam_unix(sshd:auth): authentication failure; "
                "logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.50  user=root")
    assert (pam["event.action"], pam["event.outcome"], pam["user.name"], pam["source.ip"]) == \
        ("pam_auth_failure", "failure", "root", "203.0.113.50")
    sudo = parse("Jan  2 10:00:00 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
                 "COMMAND=/usr/bin/systemctl restart nginx")
    assert sudo["event.action"] == "sudo_command"
    assert sudo["event.outcome"] == "success"
    assert sudo["user.name"] == "alice"
    assert sudo["user.effective.name"] == "root"
    assert sudo["process.command_line"] == "/usr/bin/systemctl restart nginx"
    failed = parse("Jan  2 10:00:00 h sudo:      bob : 3 incorrect password attempts ; TTY=pts/1"
                   " ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh")
    assert failed["event.outcome"] == "failure"
    assert failed["shouwang.sudo.failed_attempts"] == 3
    su = parse("Jan  2 10:00:00 h su[77]: FAILED SU (to root) carol on pts/2")
    assert (su["event.outcome"], su["user.name"], su["user.effective.name"]) == \
        ("failure", "carol", "root")
    ok = parse("Jan  2 10:00:00 h su[77]: (to root) carol on pts/2")
    assert ok["event.outcome"] == "success"


def test_unknown_program_and_untagged_header_keep_what_could_be_read():
    generic = parse("<30>Jan  2 10:00:00 h systemd[1]: Started Session 5 of user root.")
    assert generic["event.dataset"] == "system.syslog"
    assert generic["process.name"] == "systemd"
    assert generic["message"] == "Started Session 5 of user root."
    assert generic["event.action"] == "syslog"
    untagged = parse("<13>Jan  2 10:00:00 h just some text without a tag")
    assert untagged["host.hostname"] == "h"
    assert untagged["log.syslog.priority"] == 13
    assert parse("no header at all") is None


def test_sshd_format_reads_journal_lines_without_timestamp():
    event = SshdParser(OPTIONS).parse("srv sshd[31602]: Failed password for invalid user ROOT "
                                      "from 194.117.26.69 port 50273 ssh2")
    assert event["source.ip"] == "194.117.26.69"
    assert event["host.hostname"] == "srv"


def test_json_lines_flatten_and_keep_given_fields():
    parser = JsonLinesParser(OPTIONS)
    event = parser.parse('{"@timestamp": "2026-11-25T14:25:43Z", "source": {"ip": "192.0.2.1"},'
                         ' "event.dataset": "app.audit", "tags": ["a"], "msg": "hi"}')
    assert event["source.ip"] == "192.0.2.1"
    assert event["event.dataset"] == "app.audit"
    assert event["@timestamp"] == "2026-11-25T14:25:43Z"
    assert event["tags"] == ["a"]
    assert event["message"] == "hi"
    epoch = parser.parse('{"ts": 1764080743.5, "level": "warn"}')
    assert epoch["@timestamp"] == "2025-11-25T14:25:43.500000Z"
    assert epoch["log.level"] == "warn"
    assert parser.parse("[1, 2]") is None
    assert parser.parse("{broken") is None


def test_auto_sniffs_and_falls_back_per_line():
    parser = build_parser("auto", default_registry(), OPTIONS)
    access = '192.0.2.1 - - [02/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"'
    for _ in range(10):
        assert parser.parse(access)["event.dataset"] == "nginx.access"
    assert parser.chosen.name == "nginx"
    mixed = parser.parse("Jan  2 10:00:00 h sshd[1]: Invalid user x from 192.0.2.9")
    assert mixed["event.dataset"] == "system.auth"
    assert parser.parse("???") is None


def test_unparsed_marker():
    from collectors.parsers.base import raw_event
    event = raw_event("???", "2026-01-02T00:00:00.000000Z")
    assert is_unparsed(event)
    assert event["event.original"] == "???"
