"""`distinct` rules: at least `threshold` distinct values of `field` per key within
`window_secs` (password spraying: many user names from one address; path enumeration: many
different 404 paths from one address).

State per key is two tuples in the order values were last seen: the values, and the (time,
event id) each was last seen at; bounded to `threshold` values (older values cannot matter once
that many newer ones are inside the window).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType


NOTHING_SEEN = ((), ())


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
        values, stamps = self.state.fetch(key) or NOTHING_SEEN
        if value in values:
            at = values.index(value)
            values, stamps = values[:at] + values[at + 1:], stamps[:at] + stamps[at + 1:]
        values += (value,)
        stamps += ((ts, event.get("event.id")),)
        horizon = ts - self.window_secs
        size = len(values)
        start = 0
        while start < size and (stamps[start][0] <= horizon or size - start > self.threshold):
            start += 1
        if start:
            values, stamps = values[start:], stamps[start:]
        if len(values) < self.threshold or self.quiet(key, ts):
            self.state.put(key, (values, stamps))
            return None
        self.state.put(key, NOTHING_SEEN)
        evidence = Evidence(len(values), stamps[0][0], ts, [i for _, i in stamps], event,
                            values)
        extra = {"shouwang.evidence.distinct_field": self.field,
                 "shouwang.evidence.distinct_values": [str(v) for v in values[:20]]}
        if self.field == "user.name":
            extra["related.user"] = [str(v) for v in values]
        elif self.field == "source.ip":
            extra["related.ip"] = [str(v) for v in values]
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("distinct", DistinctRule, DistinctDetector,
                     "distinct values of a field per key within a window")
