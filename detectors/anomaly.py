"""`anomaly` rules: a key's event rate (requests, 5xx errors) departs from its own seasonal
baseline, robustly and for a sustained time.

Rates are counts of matching events per `bucket_secs` bucket (epoch-aligned). The baseline of
a bucket is its hour of the week (168 slots, in local time: `utc_offset_secs`, +08:00 for
Beijing): the median and the MAD (median absolute deviation) of the last `samples_per_slot`
bucket counts seen in that slot. The score of a bucket is

    score = (count - median) / max(1.4826 * MAD, min_scale, min_relative_scale * median)

(1.4826 * MAD estimates the standard deviation of normal data, and the floors keep a flat or
all-zero baseline from turning one extra request into infinity). A bucket is anomalous when
|score| > k (or only above / below with `direction`); `sustain_buckets` anomalous buckets in a
row raise a finding, once per `window_secs` per key.

Warm-up: nothing is judged before the key has been watched `warmup_secs` and the slot holds
`min_slot_samples` counts. Buckets without any event count as 0: they are closed by the next
event of the key or by the engine's tick (a traffic drop to zero is an anomaly too).
Every bucket is learned, anomalous or not: a lasting change of level becomes the new normal
once it fills half a slot's samples (the median's breakdown point).

Memory per key: 168 x samples_per_slot 4-byte floats (24 samples: 16 KiB) and the key's
newest event (a finding names what it names), in an LRU of `max_keys` keys. Deterministic: no
sampling, no clock but event time.
"""
from __future__ import annotations

from array import array
from statistics import median
from typing import Literal

from pydantic import Field, model_validator

from detectors.faults.base import FaultDetector, FaultRuleBase, finish_fault
from detectors.findings import SEVERITY_SCORE, Evidence, build_finding
from detectors.rules import RuleType

SLOTS = 168
MAD_TO_SIGMA = 1.4826
KEPT_FIELDS = ("shouwang.system", "shouwang.component", "service.name", "host.name",
               "url.domain", "labels.system", "labels.component", "event.dataset")


class AnomalyRule(FaultRuleBase):
    type: Literal["anomaly"]
    bucket_secs: float = Field(300, ge=10, le=3600, description="rate bucket; divides 3600")
    k: float = Field(4.0, gt=0, description="robust z-score that counts as anomalous")
    direction: Literal["both", "up", "down"] = "both"
    sustain_buckets: int = Field(3, ge=1, le=1000, description="anomalous buckets in a row")
    samples_per_slot: int = Field(24, ge=3, le=1000, description="counts kept per hour of week")
    min_slot_samples: int = Field(6, ge=1, description="counts a slot needs before judging")
    warmup_secs: float = Field(7 * 86_400, ge=0, description="watched this long before judging")
    min_scale: float = Field(1.0, gt=0, description="floor of the deviation scale (events)")
    min_relative_scale: float = Field(0.1, ge=0, description="floor as a share of the median")
    utc_offset_secs: int = Field(8 * 3600, ge=-14 * 3600, le=14 * 3600,
                                 description="local time of the hour-of-week slots")
    max_keys: int = Field(1_000, ge=1)

    @model_validator(mode="after")
    def _consistent(self):
        if 3600 % self.bucket_secs:
            raise ValueError("bucket_secs must divide an hour (3600)")
        if self.min_slot_samples > self.samples_per_slot:
            raise ValueError("min_slot_samples must not exceed samples_per_slot")
        return self


class _Series:
    __slots__ = ("start", "count", "first_start", "slots", "cursor", "streak", "streak_start",
                 "ids", "last")

    def __init__(self, start: float):
        self.start = start               # the open bucket
        self.count = 0
        self.first_start = start         # warm-up is counted from here
        self.slots: list[array | None] = [None] * SLOTS
        self.cursor = [0] * SLOTS        # next position of each slot's ring
        self.streak = 0
        self.streak_start = start
        self.ids: list = []
        self.last: dict = {}             # the newest event: what a finding names comes from it


class AnomalyDetector(FaultDetector):
    fault_type = "anomaly"
    category = ("web",)

    def __init__(self, rule: AnomalyRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.bucket = rule.bucket_secs
        self.max_fill = int(7 * 86_400 / rule.bucket_secs)   # a week of empty buckets at most
        self._boundary = float("-inf")

    def slot_of(self, start: float) -> int:
        return int((start + self.rule.utc_offset_secs) // 3600 + 72) % SLOTS  # 1970-01-01: Thu

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        start = ts - ts % self.bucket
        series = self.state.get(key, lambda: _Series(start))
        findings = self._close_until(key, series, start)
        series.count += 1
        series.ids.append(event.get("event.id"))
        if len(series.ids) > 5:
            del series.ids[0]
        series.last = event
        # observe() returns one finding; closing buckets on an event can raise at most one
        # (a streak fires once, then the key is quiet), so nothing is lost here
        return findings[-1] if findings else None

    def tick(self, now: float) -> list[dict]:
        boundary = now - now % self.bucket
        if boundary <= self._boundary:
            return []
        self._boundary = boundary
        findings = []
        for key, series in self.state.items():
            findings += self._close_until(key, series, boundary)
        return findings

    def _close_until(self, key: tuple, series: _Series, start: float) -> list[dict]:
        """Close the key's buckets before the bucket starting at `start`."""
        findings = []
        if start - series.start > self.max_fill * self.bucket:
            series.start, series.count = start - self.max_fill * self.bucket, 0
        while series.start < start:
            finding = self._close(key, series)
            if finding is not None:
                findings.append(finding)
            series.start += self.bucket
            series.count = 0
        return findings

    def _close(self, key: tuple, series: _Series) -> dict | None:
        rule = self.rule
        value = float(series.count)
        slot = self.slot_of(series.start)
        ring = series.slots[slot]
        finding = None
        judged = ring is not None and len(ring) >= rule.min_slot_samples and \
            series.start - series.first_start >= rule.warmup_secs
        if judged:
            middle = median(ring)
            mad = median(abs(x - middle) for x in ring)
            scale = max(MAD_TO_SIGMA * mad, rule.min_scale, rule.min_relative_scale * middle)
            score = (value - middle) / scale
            anomalous = (score > rule.k if rule.direction == "up" else
                         score < -rule.k if rule.direction == "down" else abs(score) > rule.k)
            if anomalous:
                if series.streak == 0:
                    series.streak_start = series.start
                series.streak += 1
                end = series.start + self.bucket
                if series.streak >= rule.sustain_buckets and not self.quiet(key, end):
                    finding = self._report(key, series, end, value, middle, mad, score, slot)
            else:
                series.streak = 0
        else:
            series.streak = 0
        if ring is None:
            ring = series.slots[slot] = array("f")
        if len(ring) < rule.samples_per_slot:
            ring.append(value)
        else:
            ring[series.cursor[slot]] = value
            series.cursor[slot] = (series.cursor[slot] + 1) % rule.samples_per_slot
        return finding

    def _report(self, key, series: _Series, end: float, value: float, middle: float,
                mad: float, score: float, slot: int) -> dict:
        self._quiet.put(key, (end + self.window_secs, SEVERITY_SCORE[self.rule.severity]))
        self._findings.inc()
        per_minute = 60.0 / self.bucket
        extra = {"shouwang.anomaly.value": value, "shouwang.anomaly.median": middle,
                 "shouwang.anomaly.mad": mad, "shouwang.anomaly.score": round(score, 2),
                 "shouwang.anomaly.rate_per_min": round(value * per_minute, 2),
                 "shouwang.anomaly.expected_per_min": round(middle * per_minute, 2),
                 "shouwang.anomaly.hour_of_week": slot,
                 "shouwang.anomaly.buckets": series.streak,
                 "shouwang.anomaly.bucket_secs": self.bucket,
                 "shouwang.anomaly.direction": "up" if score > 0 else "down"}
        # the fields a finding names, taken from the newest event only now: copying them on
        # every event cost more than the rest of the rule
        fields = {name: series.last[name] for name in KEPT_FIELDS
                  if series.last.get(name) not in (None, "")}
        fields.update(zip(self.fields_of(series.last), key))
        evidence = Evidence(int(value), series.streak_start, end, series.ids, fields)
        finding = build_finding(self.rule, self.fields_of(fields), key, evidence,
                                created=self._created(), extra=extra)
        return finish_fault(finding, self.rule, self.fault_type, fields, self.category)


RULE_TYPE = RuleType("anomaly", AnomalyRule, AnomalyDetector,
                     "event rate against a robust hour-of-week baseline (median, MAD)")
