"""`distinct` rules: at least `threshold` distinct values of `field` per key within
`window_secs` (password spraying: many user names from one address; path enumeration: many
different 404 paths from one address).

State per key is one flat tuple (value, time, event id, value, time, event id, ...) in the
order values were last seen, each with when it was last seen; bounded to `threshold` values
(older values cannot matter once that many newer ones are inside the window). Flat: nested
tuples stay tracked by the garbage collector (detectors/state.py).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType

STRIDE = 3   # value, time, event id


class DistinctRule(RuleBase):
    type: Literal["distinct"]
    field: str = Field(description="the field whose distinct values are counted")
    threshold: int = Field(ge=2, le=10_000, description="distinct values per key and window")


class DistinctDetector(WindowDetector):
    def __init__(self, rule: DistinctRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.field = rule.field
        self.threshold = rule.threshold

    def select(self, event: dict):
        value = event.get(self.field)
        if value is None or value == "" or isinstance(value, (list, dict)):
            return None
        key = self.selected_key(event)
        if key is None:
            return None
        return key, value

    def observe(self, event: dict, ts: float, key: tuple, value) -> dict | None:
        entries = self.state.fetch(key) or ()
        values = entries[::STRIDE]
        if value in values:
            at = values.index(value) * STRIDE
            entries = entries[:at] + entries[at + STRIDE:]
        entries += (value, ts, event.get("event.id"))
        horizon = ts - self.window_secs
        size = len(entries)
        most = self.threshold * STRIDE
        start = 0
        while start < size and (entries[start + 1] <= horizon or size - start > most):
            start += STRIDE
        if start:
            entries = entries[start:]
        if len(entries) < most or self.quiet(key, ts):
            self.state.put(key, entries)
            return None
        self.state.put(key, ())
        values = entries[::STRIDE]
        evidence = Evidence(len(values), entries[1], ts, entries[2::STRIDE], event, values)
        extra = {"shouwang.evidence.distinct_field": self.field,
                 "shouwang.evidence.distinct_values": [str(v) for v in values[:20]]}
        if self.field == "user.name":
            extra["related.user"] = [str(v) for v in values]
        elif self.field == "source.ip":
            extra["related.ip"] = [str(v) for v in values]
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("distinct", DistinctRule, DistinctDetector,
                     "distinct values of a field per key within a window")
