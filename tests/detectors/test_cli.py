"""`shouwang detect` and `shouwang rules` as a user runs them: output, exit codes, errors."""
from __future__ import annotations

import json

import pytest

import cli.main

SSH = "Nov 25 10:00:0{n} web1 sshd[21{n}]: Failed password for root from 192.0.2.7 port 5{n} ssh2"
WEB = ('192.0.2.80 - - [25/Nov/2026:18:00:01 +0800] "GET /search?q=1%27%20OR%20%271%27%3D%271 '
       'HTTP/1.1" 200 512 "-" "Mozilla/5.0"')
BENIGN = ('192.0.2.85 - - [25/Nov/2026:18:00:07 +0800] "GET /search?q=O%27Brien HTTP/1.1" 200 '
          '512 "-" "Mozilla/5.0"')


@pytest.fixture
def shouwang(capsys):
    def run(*argv):
        code = cli.main.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_detect_prints_findings_as_ndjson_and_exits_1(shouwang, tmp_path):
    auth = tmp_path / "auth.log"
    auth.write_text("\n".join(SSH.format(n=n) for n in range(1, 7)) + "\n")
    access = tmp_path / "access.log"
    access.write_text(WEB + "\n" + BENIGN + "\n")
    code, out, err = shouwang("detect", "--timezone", "UTC", str(auth), str(access))
    findings = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    # event-time order across files: the web attack (10:00:01Z) precedes the 5th failure
    assert [f["rule.id"] for f in findings] == ["web-attack", "ssh-brute-force"]
    assert findings[1]["source.ip"] == "192.0.2.7"
    assert findings[0]["threat.technique.id"] == "T1190"
    assert "2 findings" in err


def test_detect_exits_0_when_nothing_is_found(shouwang, tmp_path):
    access = tmp_path / "access.log"
    access.write_text(BENIGN + "\n")
    assert shouwang("detect", str(access))[:2] == (0, "")


def test_detect_errors_exit_2(shouwang, tmp_path):
    code, _, err = shouwang("detect", str(tmp_path / "missing.log"))
    assert code == 2 and "no such file" in err
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("type: threshold\nid: Bad Id\n")
    (tmp_path / "x.log").write_text(BENIGN + "\n")
    code, _, err = shouwang("detect", "--rules", str(rules), str(tmp_path / "x.log"))
    assert code == 2 and "bad.yaml:2 [id]" in err


def test_rules_list_test_and_check(shouwang, tmp_path):
    code, out, _ = shouwang("rules", "list")
    assert code == 0 and "ssh-brute-force" in out and "T1110.001" in out
    auth = tmp_path / "auth.log"
    auth.write_text("\n".join(SSH.format(n=n) for n in range(1, 7)) + "\n")
    code, out, _ = shouwang("rules", "test", "ssh-brute-force", str(auth))
    assert code == 1
    assert out.count("  match ") == 6 and "[source.address=192.0.2.7]" in out
    assert "5 failed SSH logins from 192.0.2.7" in out
    code, _, err = shouwang("rules", "check")
    assert code == 0 and "0 problems" in err


def test_rules_check_reports_rules_without_samples(shouwang, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    code, _, err = shouwang("rules", "check", "--samples", str(samples))
    assert code == 1 and "'ssh-brute-force' has no samples" in err
