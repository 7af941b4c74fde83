"""`threshold` rules: at least `threshold` matching events per key within `window_secs`.

State per key is one flat tuple (time, event id, time, event id, ...) of at most `threshold`
events: only the newest `threshold` events can decide a crossing, so memory per key is bounded
by the rule itself. Flat: nested tuples stay tracked by the garbage collector
(detectors/state.py).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType
from detectors.state import slide


class ThresholdRule(RuleBase):
    type: Literal["threshold"]
    threshold: int = Field(ge=1, le=100_000, description="matching events per key and window")


class ThresholdDetector(WindowDetector):
    def __init__(self, rule: ThresholdRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.threshold = rule.threshold

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        window = slide(self.state.fetch(key) or (), (ts, event.get("event.id")),
                       self.threshold, ts - self.window_secs)
        if len(window) < 2 * self.threshold or self.quiet(key, ts):
            self.state.put(key, window)
            return None
        self.state.put(key, ())
        evidence = Evidence(self.threshold, window[0], ts, window[1::2], event)
        return self.fire(key, ts, evidence)


RULE_TYPE = RuleType("threshold", ThresholdRule, ThresholdDetector,
                     "count of matching events per key within a window")
