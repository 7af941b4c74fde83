"""Accuracy against fail2ban's own annotated samples (../shared/data/fail2ban-samples).

For each supported file, every line annotated `"match": true` must be selected by one of the
file's rules with the annotated host as source.address (>= 99%), and no `"match": false` line may
be selected by them (0). fail2ban filters have modes; each file here is read in the mode our
rules correspond to (sshd: aggressive, which also counts pre-auth protocol failures), and only
the sections (`# filterOptions:`) and `constraint`s of that mode apply. The table is printed
(`pytest -s`); files we do not support are listed with the reason.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collectors.parsers.catalog import build_parser, default_registry
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fail2ban-samples"
MIN_RECALL = 0.99

# file -> (fail2ban modes our rules correspond to, rules that count a failure)
SUPPORTED = {
    "sshd": ({"aggressive"}, {"ssh-brute-force"}),
    "sshd-journal": ({"aggressive"}, {"ssh-brute-force"}),
    "apache-auth": ({"normal"}, {"http-auth-brute-force"}),
    "nginx-http-auth": ({"normal", "auth", "fallback"},
                        {"http-auth-brute-force", "tls-handshake-probing"}),
}
UNSUPPORTED = {
    "apache-shellshock": "bash's complaint in the CGI error log, not the request: the request "
                         "itself is caught by web-attack (shellshock) in the access log",
    "apache-badbots / nginx-botsearch / apache-botsearch / apache-noscript / apache-nohome":
        "per-line 404 and bot-name bans; covered by behaviour (web-scanner-behaviour, 30 distinct "
        "404 paths a minute) and user agents, not line by line",
    "apache-overflows / nginx-bad-request / nginx-limit-req / apache-modsecurity":
        "malformed requests, rate limits, WAF verdicts: flood and WAF detectors (later part of #5)",
    "dropbear / proftpd / vsftpd / mysqld-auth / postfix / drupal-auth / gitlab / grafana / "
    "haproxy-http-auth / lighttpd-auth / traefik-auth / squid / phpmyadmin-syslog / selinux-ssh "
    "/ pam-generic / named-refused / portsentry / scanlogd / recidive / apache-pass / "
    "apache-fakegooglebot": "no parser for that service yet, or not an authentication log",
}
_CONSTRAINT = re.compile(r"opts\.get\('mode'\)\s*(==|!=)\s*'(\w+)'$")
_NAME_CONSTRAINT = re.compile(r"name\s*(==|!=)\s*'([\w-]+)'$")

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="fail2ban samples not present")


def _modes_of(options) -> set[str]:
    options = options if isinstance(options, list) else [options]
    return {item.get("mode", "normal") for item in options if isinstance(item, dict)}


def _applies(expect: dict, modes: set[str], name: str) -> bool | None:
    constraint = expect.get("constraint")
    if not constraint:
        return True
    by_name = _NAME_CONSTRAINT.match(constraint.strip())
    if by_name is not None:
        operator, wanted = by_name.groups()
        return (name == wanted) == (operator == "==")
    parsed = _CONSTRAINT.match(constraint.strip())
    if parsed is None:
        return None  # a constraint we cannot read: skipped and counted
    operator, mode = parsed.groups()
    return any((ours == mode) == (operator == "==") for ours in modes)


def evaluate(name: str, modes: set[str], rule_ids: set[str], engine: Engine) -> dict:
    detectors = [d for d in engine.detectors if d.id in rule_ids]
    parser = build_parser("auto", default_registry())
    stats = {"true": 0, "found": 0, "false": 0, "false_alarms": 0, "skipped": 0, "missed": []}
    expect, section_on = None, True
    for line in (DATA / name).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# filterOptions:"):
            section_on = bool(_modes_of(json.loads(line.split(":", 1)[1])) & modes)
            continue
        if line.startswith("# failJSON:"):
            expect = json.loads(line.split(":", 1)[1])
            continue
        if not line.strip() or line.startswith("#"):
            continue
        event = parser.parse(line)  # every line goes through: parsers remember sshd pids
        current, expect = expect, None
        if current is None:
            continue
        applies = _applies(current, modes, name) if section_on else False
        if not applies:
            stats["skipped"] += applies is None
            continue
        selected = event is not None and any(
            d in engine.candidates(event) and d.select(event) for d in detectors)
        if current.get("match"):
            stats["true"] += 1
            host = current.get("host")
            if selected and (host is None or event.get("source.address") == host):
                stats["found"] += 1
            else:
                stats["missed"].append(line)
        else:
            stats["false"] += 1
            stats["false_alarms"] += selected
    return stats


def test_fail2ban_auth_samples_accuracy():
    engine = Engine.build(load_rules(DEFAULT_RULES_DIR, default_rule_types()))
    rows, failures = [], []
    for name, (modes, rule_ids) in SUPPORTED.items():
        stats = evaluate(name, modes, rule_ids, engine)
        recall = stats["found"] / stats["true"] if stats["true"] else 1.0
        rows.append(f"{name:<16} {stats['found']:>4}/{stats['true']:<4} {recall:>7.1%} "
                    f"{stats['false_alarms']:>3}/{stats['false']:<4} {stats['skipped']:>4}")
        if recall < MIN_RECALL or stats["false_alarms"]:
            failures.append((name, stats["missed"][:5], stats["false_alarms"]))
    print("\nfile             found/true  recall  false alarms  skipped")
    print("\n".join(rows))
    print("unsupported:")
    for files, reason in UNSUPPORTED.items():
        print(f"  {files}: {reason}")
    assert failures == []
