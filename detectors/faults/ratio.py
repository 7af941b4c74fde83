"""`error_ratio` rules: the share of bad events (HTTP 5xx) per key over `window_secs` reaches
`max_ratio`, once at least `min_events` events were seen in the window.

The minimum count keeps a quiet system from paging on its one failed request of the night.
Counts live in `buckets` fixed buckets per key (faults/buckets.py): bounded memory at any rate.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.conditions import FieldTest, compile_conditions
from detectors.faults.base import FaultDetector, FaultRuleBase
from detectors.faults.buckets import BucketCounts
from detectors.findings import Evidence
from detectors.rules import RuleType


class ErrorRatioRule(FaultRuleBase):
    type: Literal["error_ratio"]
    bad: dict[str, FieldTest] = Field(min_length=1, description="what makes an event bad "
                                      "(all must hold), e.g. a 5xx status")
    max_ratio: float = Field(gt=0, le=1, description="bad / all at which the rule fires")
    min_events: int = Field(1, ge=1, description="events needed in the window to judge")
    buckets: int = Field(20, ge=1, le=1000, description="time buckets per window (precision)")


class _Series:
    __slots__ = ("counts", "bad_ids")

    def __init__(self, bucket_secs: float, span_secs: float):
        self.counts = BucketCounts(bucket_secs, span_secs)
        self.bad_ids: list = []


class ErrorRatioDetector(FaultDetector):
    fault_type = "error_ratio"
    category = ("web",)

    def __init__(self, rule: ErrorRatioRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.bad = compile_conditions(rule.bad, {})
        self.bucket_secs = self.window_secs / rule.buckets
        self.max_ratio = rule.max_ratio
        self.min_events = rule.min_events

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        series = self.state.get(key, lambda: _Series(self.bucket_secs, self.window_secs))
        bad = self.bad(event)
        series.counts.add(ts, bad)
        if bad:
            series.bad_ids = (series.bad_ids + [event.get("event.id")])[-5:]
        total, failed = series.counts.sums(ts, self.window_secs)
        if total < self.min_events or failed < self.max_ratio * total or not bad:
            return None
        if self.quiet(key, ts):
            return None
        ratio = failed / total
        evidence = Evidence(failed, ts - self.window_secs, ts, series.bad_ids, event)
        extra = {"shouwang.fault.ratio": round(ratio, 4), "shouwang.fault.percent":
                 round(ratio * 100, 1), "shouwang.fault.events": total,
                 "shouwang.fault.bad_events": failed}
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("error_ratio", ErrorRatioRule, ErrorRatioDetector,
                     "share of bad events (5xx) per key over a window, with a minimum count")
