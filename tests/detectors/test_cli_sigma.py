"""`shouwang detect --sigma DIR` as a user runs it (a real process): Sigma rules beside the
built-in rules or alone (--sigma-only), the active/inactive/rejected summary on stderr, the
Sigma alert shape on stdout."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.detectors.test_sigma_support import rule_text
from tests.support.monitor import ROOT, SHOUWANG

SIGMA_RULES = ROOT.parent / "shared" / "data" / "sigma-rules"
needs_rules = pytest.mark.skipif(not SIGMA_RULES.is_dir(), reason="shared Sigma rules absent")

SSH = "Nov 25 10:00:0{n} web1 sshd[21{n}]: Failed password for root from 192.0.2.7 port 5{n} ssh2"
TRAVERSAL = ('192.0.2.80 - - [25/Nov/2026:18:00:01 +0800] "GET /static/..%252f..%252f..%252fetc'
             '%252fpasswd HTTP/1.1" 404 153 "-" "curl/8.5.0"')
BENIGN = ('192.0.2.85 - - [25/Nov/2026:18:00:07 +0800] "GET /search?q=O%27Brien HTTP/1.1" 200 '
          '512 "-" "Mozilla/5.0"')
ADMIN_RULE_ID = "5f0b7a52-1c4e-4a57-9d7e-0b9c5c0c7a11"


def detect(*args, cwd: Path):
    result = subprocess.run([SHOUWANG, "detect", "--timezone", "UTC", *map(str, args)],
                            capture_output=True, text=True, timeout=120, cwd=cwd)
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, findings, result.stderr


@pytest.fixture
def own_rules(tmp_path) -> Path:
    """One rule of ours that loads active (sshd logins as root), one we have no source for
    (inactive) and one RE2 refuses (rejected)."""
    directory = tmp_path / "sigma"
    directory.mkdir()
    (directory / "root_login_failed.yml").write_text(rule_text(
        """
        selection: {User: root}
        keywords: ['Failed password']
        condition: selection and keywords""",
        logsource="product: linux\nservice: sshd", level="high",
        tags="[attack.credential-access, attack.t1110.001]", rule_id=ADMIN_RULE_ID,
        title="Failed SSH login as root"))
    (directory / "windows.yml").write_text(rule_text(
        "selection: {Image|endswith: '\\\\mimikatz.exe'}\ncondition: selection",
        logsource="product: windows\ncategory: process_creation"))
    (directory / "backref.yml").write_text(rule_text(
        "selection: {cs-uri-query|re: 'admin(?=\\.php)'}\ncondition: selection"))
    return directory


def test_own_sigma_rule_runs_beside_builtin_rules_with_a_verdict_summary(tmp_path, own_rules):
    auth = tmp_path / "auth.log"
    auth.write_text("\n".join(SSH.format(n=n) for n in range(1, 7)) + "\n")
    code, findings, err = detect("--sigma", own_rules, auth, cwd=tmp_path)
    assert code == 1, err
    by_rule = {}
    for finding in findings:
        by_rule.setdefault(finding["rule.id"], []).append(finding)
    assert set(by_rule) == {ADMIN_RULE_ID, "ssh-brute-force"}
    # a single-event Sigma rule fires once per subject within its suppression window
    (sigma,) = by_rule[ADMIN_RULE_ID]
    assert sigma["rule.ruleset"] == "sigma" and sigma["rule.name"] == "Failed SSH login as root"
    assert sigma["event.kind"] == "alert" and sigma["event.severity"] == 73
    assert sigma["threat.technique.subtechnique.id"] == "T1110.001"
    assert sigma["threat.tactic.name"] == "Credential Access"
    assert sigma["source.ip"] == "192.0.2.7" and sigma["user.name"] == "root"
    assert len(sigma["shouwang.evidence.sample_event_ids"]) == 1
    assert "sigma: 1 rules active, 1 inactive (no source for their logsource), 1 rejected" in err
    assert "regex RE2 cannot compile: 1" in err


def test_sigma_only_leaves_out_the_builtin_rules(tmp_path, own_rules):
    auth = tmp_path / "auth.log"
    auth.write_text("\n".join(SSH.format(n=n) for n in range(1, 7)) + "\n")
    code, findings, err = detect("--sigma", own_rules, "--sigma-only", auth, cwd=tmp_path)
    assert code == 1, err
    assert [f["rule.id"] for f in findings] == [ADMIN_RULE_ID]
    assert "1 rules, 1 findings" in err
    code, findings, err = detect("--sigma", own_rules, "--sigma-only", "--rule", "ssh-brute-force",
                                 auth, cwd=tmp_path)
    assert code == 2 and "unknown rule ssh-brute-force" in err


def test_sigma_usage_errors_exit_2_without_traceback(tmp_path):
    access = tmp_path / "access.log"
    access.write_text(BENIGN + "\n")
    code, _, err = detect("--sigma-only", access, cwd=tmp_path)
    assert code == 2 and "--sigma-only needs at least one --sigma DIR" in err
    code, _, err = detect("--sigma", tmp_path / "nowhere", access, cwd=tmp_path)
    assert code == 2 and "no such Sigma rule directory" in err and "Traceback" not in err


@needs_rules
def test_sigmahq_rules_find_path_traversal_and_report_their_verdicts(tmp_path):
    access = tmp_path / "access.log"
    access.write_text(TRAVERSAL + "\n" + BENIGN + "\n")
    code, findings, err = detect("--sigma", SIGMA_RULES, "--sigma-only", access, cwd=tmp_path)
    assert code == 1, err
    titles = {f["rule.name"] for f in findings}
    assert "Path Traversal Exploitation Attempts" in titles
    assert all(f["source.ip"] == "192.0.2.80" for f in findings)  # not the benign client
    traversal = next(f for f in findings if f["rule.name"] == "Path Traversal Exploitation "
                                                           "Attempts")
    assert traversal["rule.uuid"] == "7745c2ea-24a5-4290-b680-04359cb84b35"
    assert traversal["url.original"].startswith("/static/..%252f")
    summary = next(line for line in err.splitlines() if "sigma:" in line)
    active, inactive, rejected = (int(summary.split("sigma: ")[1].split()[0]),
                                  int(summary.split("active, ")[1].split()[0]),
                                  int(summary.split("), ")[1].split()[0]))
    assert active > 50 and inactive > 100 and active + inactive + rejected >= 400
