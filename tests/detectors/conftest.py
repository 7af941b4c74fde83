"""Helpers for detector tests: events with given times, and engines over rule text."""
from __future__ import annotations

import textwrap
from itertools import count
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules

BASE_EPOCH = 1_795_000_000.0
_ids = count()


def auth_event(second: float, ip: str = "203.0.113.7", *, outcome: str = "failure",
               user: str = "root", process: str = "sshd", action: str = "ssh_login") -> dict:
    return {"@timestamp": format_ts(BASE_EPOCH + second), "event.id": f"e{next(_ids)}",
            "event.kind": "event", "event.dataset": "system.auth",
            "event.category": ["authentication"], "event.action": action,
            "event.outcome": outcome, "process.name": process, "source.ip": ip,
            "user.name": user}


@pytest.fixture
def make_engine(tmp_path: Path):
    """Build an engine from {file name: YAML text}; returns (engine, metrics registry)."""
    def build(rules: dict[str, str], **options):
        directory = tmp_path / "rules"
        directory.mkdir(exist_ok=True)
        for name, text in rules.items():
            (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
        registry = CollectorRegistry()
        loaded = load_rules(directory, default_rule_types())
        return Engine.build(loaded, registry=registry, clock=lambda: BASE_EPOCH, **options), \
            registry
    return build


RULE_HEAD = """\
id: {id}
name: Test rule
description: test
severity: medium
tactic: {{id: TA0006, name: Credential Access}}
technique: {{id: T1110, name: Brute Force}}
subtechnique: {{id: T1110.001, name: Password Guessing}}
references: [https://attack.mitre.org/techniques/T1110/001/]
reason: {{en: "{{count}} from {{source.ip}}", zh: "{{source.ip}} 失败 {{count}} 次"}}
"""


def rule_text(rule_id: str, body: str) -> str:
    return RULE_HEAD.format(id=rule_id) + textwrap.dedent(body)
