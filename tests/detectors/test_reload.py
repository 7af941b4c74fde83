"""Rules change while the monitor runs: unchanged rules keep their windows, changed ones start
afresh, and a broken rule file leaves the running rules in place."""
from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rule

BASE = 1_795_000_000.0


def failure(second: int, address: str = "198.51.100.23") -> dict:
    return {"@timestamp": format_ts(BASE + second), "event.id": f"e{second}",
            "event.kind": "event", "event.dataset": "system.auth",
            "event.category": ["authentication"], "event.outcome": "failure",
            "process.name": "sshd", "source.address": address, "source.ip": address,
            "user.name": "root", "message": f"Failed password for root from {address}"}


def rules(**changes):
    loaded = load_rule(DEFAULT_RULES_DIR / "ssh-brute-force.yaml", default_rule_types())
    if changes:
        loaded = dataclasses.replace(loaded, rule=loaded.rule.model_copy(update=changes))
    return [loaded]


def run(engine: Engine, events: list[dict]) -> list[dict]:
    return engine.process(events)          # hold 0: rules see each batch at once


def test_an_unchanged_rule_keeps_its_window_across_a_reload():
    engine = Engine.build(rules(), registry=CollectorRegistry(), hold_secs=0)
    assert run(engine, [failure(n) for n in range(3)]) == []
    assert engine.reload(rules()) == {"kept": 1, "started": 0, "removed": 0}
    findings = run(engine, [failure(n) for n in range(3, 5)])
    assert [f["rule.id"] for f in findings] == ["ssh-brute-force"]   # 3 + 2 = threshold 5


def test_a_changed_rule_starts_afresh_and_a_removed_one_is_gone():
    engine = Engine.build(rules(), registry=CollectorRegistry(), hold_secs=0)
    run(engine, [failure(n) for n in range(4)])
    assert engine.reload(rules(threshold=3)) == {"kept": 0, "started": 1, "removed": 0}
    assert run(engine, [failure(n) for n in range(4, 6)]) == []        # 2 < 3: counting anew
    assert len(run(engine, [failure(6)])) == 1
    assert engine.reload([]) == {"kept": 0, "started": 0, "removed": 1}
    assert run(engine, [failure(n) for n in range(7, 20)]) == []
