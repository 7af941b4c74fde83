"""`gauge` rules: a metric is above (or below) a threshold, continuously for `for_secs`
(Prometheus' `for:`): memory, inode and file-descriptor saturation, clock offset.

`absolute` compares |value| (a clock offset is bad in either direction). A sample back on the
good side resets the clock. While the condition holds, the finding repeats every window_secs.
State per key: when the breach started and the ids of its latest samples.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from detectors.faults.base import FaultDetector, FaultRuleBase
from detectors.findings import Evidence
from detectors.rules import RuleType


class GaugeRule(FaultRuleBase):
    type: Literal["gauge"]
    field: str = Field(description="the metric field, e.g. system.memory.actual.used.pct")
    above: float | None = None
    below: float | None = None
    absolute: bool = Field(False, description="compare the absolute value")
    for_secs: float = Field(0, ge=0, le=86_400, description="how long it must hold")

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above, below")
        return self


class _Breach:
    __slots__ = ("since", "count", "ids")

    def __init__(self):
        self.since: float | None = None
        self.count = 0
        self.ids: list = []


class GaugeDetector(FaultDetector):
    fault_type = "gauge"
    category = ("host",)

    def __init__(self, rule: GaugeRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.field = rule.field

    def select(self, event: dict):
        return self.select_number(event, self.field)

    def observe(self, event: dict, ts: float, key: tuple, value) -> dict | None:
        rule = self.rule
        compared = abs(value) if rule.absolute else value
        breach = self.state.get(key, _Breach)
        bad = compared > rule.above if rule.above is not None else compared < rule.below
        if not bad:
            breach.since, breach.count, breach.ids = None, 0, []
            return None
        if breach.since is None:
            breach.since = ts
        breach.count += 1
        breach.ids = (breach.ids + [event.get("event.id")])[-5:]
        if ts - breach.since < rule.for_secs or self.quiet(key, ts):
            return None
        evidence = Evidence(breach.count, breach.since, ts, breach.ids, event)
        extra = {"shouwang.fault.value": value,
                 "shouwang.fault.threshold": rule.above if rule.above is not None
                 else rule.below,
                 "shouwang.fault.percent": round(value * 100, 1),
                 "shouwang.fault.for_secs": round(ts - breach.since)}
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("gauge", GaugeRule, GaugeDetector,
                     "a metric above/below a threshold for a sustained time")
