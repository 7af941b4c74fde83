"""Fault rule types as ops see them (helpers here are shared with test_root_cause/test_anomaly)."""
from __future__ import annotations

from itertools import count

from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rule

BASE = 1_795_000_000.0
_ids = count()


def metric(second: float, dataset: str, kind: str = "metric", **fields) -> dict:
    event = {"@timestamp": format_ts(BASE + second), "event.id": f"m{next(_ids)}",
             "event.kind": kind, "event.dataset": dataset}
    event.update(fields)
    return event


def probe(second: float, target: str, ok: bool, system: str | None = None, **fields) -> dict:
    extra = {"event.outcome": "success" if ok else "failure", "event.duration": 100_000_000,
             "shouwang.probe.target": target, "shouwang.probe.module": "http"}
    if system:
        extra.update({"shouwang.system": system, "service.name": system,
                      "labels.system": system})
    if not ok:
        extra["error.message"] = "connection refused"
    extra.update(fields)
    return metric(second, "shouwang.probe", **extra)


def shipped_engine(*rule_ids: str, **options) -> Engine:
    types = default_rule_types()
    loaded = [load_rule(DEFAULT_RULES_DIR / f"{rule_id}.yaml", types) for rule_id in rule_ids]
    return Engine.build(loaded, registry=CollectorRegistry(), **options)


def run(engine: Engine, events: list[dict]) -> list[dict]:
    return engine.process(events) + engine.flush()
