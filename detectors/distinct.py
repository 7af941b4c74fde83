"""`distinct` rules: at least `threshold` distinct values of `field` per key within
`window_secs` (password spraying: many user names from one address; path enumeration: many
different 404 paths from one address).

State per key is an insertion-ordered map value -> last time seen, bounded to `threshold`
values (older values cannot matter once that many newer ones are inside the window).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType


class DistinctRule(RuleBase):
    type: Literal["distinct"]
    field: str = Field(description="the field whose distinct values are counted")
    threshold: int = Field(ge=2, le=10_000, description="distinct values per key and window")


class _Seen:
    __slots__ = ("values", "ids")

    def __init__(self):
        self.values: OrderedDict = OrderedDict()  # value -> (last time, event id)


class DistinctDetector(WindowDetector):
    def __init__(self, rule: DistinctRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.field = rule.field
        self.threshold = rule.threshold

    def select(self, event: dict):
        value = event.get(self.field)
        if value is None or value == "" or isinstance(value, (list, dict)):
            return None
        chosen = super().select(event)
        if chosen is None:
            return None
        return chosen[0], value

    def observe(self, event: dict, ts: float, key: tuple, value) -> dict | None:
        seen = self.state.get(key, _Seen).values
        seen.pop(value, None)
        seen[value] = (ts, event.get("event.id"))
        horizon = ts - self.window_secs
        while seen:
            oldest = next(iter(seen.values()))
            if oldest[0] > horizon and len(seen) <= self.threshold:
                break
            seen.popitem(last=False)
        if len(seen) < self.threshold or self.quiet(key, ts):
            return None
        values = list(seen)
        stamps = list(seen.values())
        evidence = Evidence(len(values), stamps[0][0], ts, [i for _, i in stamps], event,
                            values)
        extra = {"shouwang.evidence.distinct_field": self.field,
                 "shouwang.evidence.distinct_values": [str(v) for v in values[:20]]}
        if self.field == "user.name":
            extra["related.user"] = [str(v) for v in values]
        elif self.field == "source.ip":
            extra["related.ip"] = [str(v) for v in values]
        seen.clear()
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("distinct", DistinctRule, DistinctDetector,
                     "distinct values of a field per key within a window")
