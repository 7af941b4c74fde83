"""`burn_rate` rules: multiwindow, multi-burn-rate alerts on a latency (or availability) SLO,
as in the Google SRE workbook, chapter "Alerting on SLOs".

An event is bad when it failed (event.outcome failure, with `failures_are_bad`), when its
event.duration exceeds `latency_threshold_secs`, or when it meets `bad`. The error budget is
1 - objective; the burn rate over a window is (bad / all) / budget: 1 spends the budget
exactly over the SLO period, 14.4 spends 2% of a 30-day budget in one hour. An alert window
fires when both its long and its short window burn at least `burn_rate`: the long window
makes it significant, the short one makes it stop soon after the problem does. The workbook's
defaults (shipped): 1 h / 5 min at 14.4 and 6 h / 30 min at 6 page; 3 d / 6 h at 1 would be a
ticket but exceeds the one-day state bound of a rule, so use Prometheus for it.

Each alert window carries its own severity; the first window that holds (they are tried in
order: list the fastest first) gives the finding its severity. Events without a duration that
did not fail cannot be judged and are skipped.

State per key: BucketCounts over the longest window in `bucket_secs` buckets.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.settings import StrictModel
from detectors.conditions import FieldTest, compile_conditions
from detectors.faults.base import FaultDetector, FaultRuleBase, number, plain
from detectors.faults.buckets import BucketCounts
from detectors.findings import Evidence
from detectors.rules import RuleType, Severity


class BurnWindow(StrictModel):
    long_secs: float = Field(gt=0, le=86_400)
    short_secs: float = Field(gt=0, le=86_400)
    burn_rate: float = Field(gt=0, description="budget consumption rate that fires")
    severity: Severity

    @model_validator(mode="after")
    def _short_inside_long(self):
        if self.short_secs > self.long_secs:
            raise ValueError("short_secs must not exceed long_secs")
        return self


class BurnRateRule(FaultRuleBase):
    type: Literal["burn_rate"]
    objective: float = Field(gt=0, lt=1, description="share of good events, e.g. 0.99")
    latency_threshold_secs: float | None = Field(None, gt=0, description="slower is bad")
    failures_are_bad: bool = True
    bad: dict[str, FieldTest] = Field(default_factory=dict, description="more bad events")
    windows: list[BurnWindow] = Field(min_length=1, description="fastest first")
    bucket_secs: float = Field(60, gt=0, le=3600)
    min_events: int = Field(10, ge=1, description="events in the long window needed to judge")
    max_keys: int = Field(1_000, ge=1)


class _Series:
    __slots__ = ("counts", "bad_ids")

    def __init__(self, bucket_secs: float, span_secs: float):
        self.counts = BucketCounts(bucket_secs, span_secs)
        self.bad_ids: list = []


class BurnRateDetector(FaultDetector):
    fault_type = "burn_rate"
    category = ("network",)

    def __init__(self, rule: BurnRateRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.budget = 1.0 - rule.objective
        self.threshold_ns = rule.latency_threshold_secs * 1e9 \
            if rule.latency_threshold_secs else None
        self.extra_bad = compile_conditions(rule.bad, {}) if rule.bad else None
        self.windows = rule.windows
        self.span = max(w.long_secs for w in rule.windows)
        self.bucket_secs = rule.bucket_secs
        self.min_events = rule.min_events

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        bad = self.rule.failures_are_bad and event.get("event.outcome") == "failure"
        if not bad and self.extra_bad is not None:
            bad = self.extra_bad(event)
        if not bad and self.threshold_ns is not None:
            duration = number(event.get("event.duration"))
            if duration is None:
                return None  # neither failed nor timed: nothing to judge
            bad = duration > self.threshold_ns
        return key, bad

    def observe(self, event: dict, ts: float, key: tuple, bad) -> dict | None:
        series = self.state.get(key, lambda: _Series(self.bucket_secs, self.span))
        series.counts.add(ts, bad)
        if bad:
            series.bad_ids = (series.bad_ids + [event.get("event.id")])[-5:]
        for window in self.windows:
            total, failed = series.counts.sums(ts, window.long_secs)
            if total < self.min_events:
                continue
            long_burn = failed / total / self.budget
            short_total, short_failed = series.counts.sums(ts, window.short_secs)
            short_burn = short_failed / short_total / self.budget if short_total else 0.0
            if long_burn < window.burn_rate or short_burn < window.burn_rate:
                continue
            if self.quiet(key, ts, window.severity):
                return None
            evidence = Evidence(failed, ts - window.long_secs, ts, series.bad_ids, event)
            extra = {"shouwang.fault.burn_rate": round(long_burn, 2),
                     "shouwang.fault.short_burn_rate": round(short_burn, 2),
                     "shouwang.fault.burn_threshold": plain(window.burn_rate),
                     "shouwang.fault.long_window_secs": plain(window.long_secs),
                     "shouwang.fault.short_window_secs": plain(window.short_secs),
                     "shouwang.fault.events": total, "shouwang.fault.bad_events": failed,
                     "shouwang.fault.objective": self.rule.objective}
            return self.fire(key, ts, evidence, extra, window.severity)
        return None


RULE_TYPE = RuleType("burn_rate", BurnRateRule, BurnRateDetector,
                     "multiwindow multi-burn-rate alert on a latency/availability SLO")
