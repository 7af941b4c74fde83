"""Real SigmaHQ rules firing on log lines read by our own parsers, through the engine, with the
alert fields an analyst sees (rule, ATT&CK names from the shipped snapshot, severity)."""
from __future__ import annotations

from pathlib import Path

import pytest

from collectors.parsers.catalog import build_parser, default_registry
from detectors.sigma.loader import load_sigma_rules
from tests.detectors.test_sigma_support import engine_for

SIGMA_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma-rules"
pytestmark = pytest.mark.skipif(not SIGMA_RULES.is_dir(), reason="shared Sigma rules absent")

WEB = SIGMA_RULES / "rules" / "web" / "webserver_generic"
LINUX = SIGMA_RULES / "rules" / "linux" / "builtin"


@pytest.fixture(scope="module")
def parsers():
    registry = default_registry()
    return {"nginx": build_parser("nginx", registry), "syslog": build_parser("syslog", registry)}


def findings_for(paths, lines, parser):
    loaded = load_sigma_rules(paths)
    assert not loaded.rejected
    engine = engine_for(loaded)
    events = [parser.parse(line) for line in lines]
    assert all(events)
    return engine.process(events) + engine.flush()


def test_path_traversal_rule_on_an_nginx_line(parsers):
    lines = ['203.0.113.5 - - [25/Nov/2026:10:00:00 +0800] "GET /cgi-bin/../../../etc/passwd '
             'HTTP/1.1" 404 153 "-" "curl/8.5.0"',
             '198.51.100.7 - - [25/Nov/2026:10:00:01 +0800] "GET /patent/CN1234567A HTTP/1.1" '
             '200 5120 "-" "Mozilla/5.0"']
    (finding,) = findings_for([WEB / "web_path_traversal_exploitation_attempt.yml"], lines,
                              parsers["nginx"])
    assert finding["rule.id"] == "7745c2ea-24a5-4290-b680-04359cb84b35"
    assert finding["rule.name"] == "Path Traversal Exploitation Attempts"
    assert finding["rule.description"] == "Detects path traversal exploitation attempts"
    assert "https://github.com/projectdiscovery/nuclei-templates" in finding["rule.reference"]
    assert finding["threat.technique.id"] == "T1190"
    assert finding["threat.technique.name"] == "Exploit Public-Facing Application"
    assert finding["threat.tactic.id"] == "TA0001"
    assert finding["threat.tactic.name"] == "Initial Access"
    assert finding["shouwang.severity"] == "medium" and finding["event.severity"] == 47
    assert finding["event.kind"] == "alert" and finding["source.ip"] == "203.0.113.5"
    assert finding["url.original"] == "/cgi-bin/../../../etc/passwd"


def test_recon_user_agent_and_jndi_rules(parsers):
    lines = ['203.0.113.6 - - [25/Nov/2026:10:00:01 +0800] "GET /index.php?id=1 HTTP/1.1" 200 '
             '153 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"',
             '203.0.113.8 - - [25/Nov/2026:10:00:02 +0800] "GET /x/Basic/Command/Base64/aWQ= '
             'HTTP/1.1" 404 10 "-" "Mozilla/5.0"',
             '198.51.100.7 - - [25/Nov/2026:10:00:03 +0800] "GET /search?q=jndi HTTP/1.1" 200 '
             '99 "-" "Mozilla/5.0 (X11; Linux x86_64)"']
    findings = findings_for([WEB / "web_susp_useragents.yml", WEB / "web_jndi_exploit.yml"],
                            lines, parsers["nginx"])
    assert sorted((f["rule.name"], f["source.ip"]) for f in findings) == [
        ("JNDIExploit Pattern", "203.0.113.8"),
        ("Suspicious User-Agents Related To Recon Tools", "203.0.113.6")]


def test_linux_keyword_rules_on_syslog_lines(parsers):
    lines = ["Nov 25 10:00:00 exam-gw1 clamd[812]: /var/www/upload/x.php: Php.Webshell.Agent "
             "FOUND",
             "Nov 25 10:00:01 exam-gw1 sshd[4411]: error: Corrupted MAC on input. [preauth]",
             "Nov 25 10:00:02 exam-gw1 sshd[4412]: Accepted publickey for deploy from "
             "192.0.2.10 port 50022 ssh2: ED25519 SHA256:abc"]
    findings = findings_for([LINUX / "clamav", LINUX / "sshd"], lines, parsers["syslog"])
    names = sorted(f["rule.name"] for f in findings)
    assert names == ["Relevant ClamAV Message", "Suspicious OpenSSH Daemon Error"]
    clamav = next(f for f in findings if f["rule.name"] == "Relevant ClamAV Message")
    assert clamav["shouwang.sigma.subject"] == "exam-gw1" and clamav["shouwang.severity"] == "high"


def test_a_scanner_raises_one_alert_per_subject_and_window(parsers):
    lines = [f'203.0.113.9 - - [25/Nov/2026:10:00:{second:02d} +0800] "GET /{second}/../../../etc/'
             f'passwd HTTP/1.1" 404 1 "-" "x"' for second in range(50)]
    findings = findings_for([WEB / "web_path_traversal_exploitation_attempt.yml"], lines,
                            parsers["nginx"])
    assert len(findings) == 1


def test_informational_level_maps_to_low(tmp_path):
    from tests.detectors.test_sigma_support import load_texts, rule_text
    loaded = load_texts(tmp_path, rule_text("""
        selection: {cs-method: TRACE}
        condition: selection""", level="informational", tags="[attack.stealth]"))
    (item,) = loaded.active
    assert item.rule.severity == "low" and item.rule.level == "informational"
    # ATT&CK v19's Stealth is TA0005 Defense Evasion in the v18.1 snapshot we ship
    assert item.rule.tactic.id == "TA0005"
