"""`rate_spike` rules: a key's rate in a short window far above its own recent baseline
(floods, T1498/T1499: SYN/UDP/ICMP packet floods from flows, HTTP request floods from access
logs).

Time is cut into consecutive windows of `window_secs`, aligned to multiples of it (so replays
give the same windows). Per key the detector keeps the running total of the current window and
the totals of the last `baseline_windows` complete windows (windows without events count as
0). The baseline is the median of those: one earlier flood window or a quiet night does not
move it much, unlike a mean. A finding is raised, at the event that crosses it, as soon as

    current total >= max(min_rate, factor * baseline)

`min_rate` is the absolute floor: it alone decides for a key without history, and it keeps a
near-idle key from firing on a small absolute burst. After a finding the key stays quiet for
`renotify_secs` (a long flood is one finding per that period, not one per window).

Value: each event counts 1, or the number in `value_field` (network.packets of a flow). A
flow's packets are spread over its duration (`event.duration`, ns): a flow lasting longer than
one window adds its average per window, so a 30-minute download is not a one-window burst.

Memory per key: a tuple of `baseline_windows` numbers and the current window's few fields;
keys are bounded by `max_keys` (LRU).
"""
from __future__ import annotations

from statistics import median
from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType

NS_PER_SEC = 1e9


class RateSpikeRule(RuleBase):
    type: Literal["rate_spike"]
    value_field: str | None = Field(None, description="sum this numeric field (e.g. "
                                    "network.packets); default: count events")
    baseline_windows: int = Field(30, ge=3, le=1_440, description="complete windows whose "
                                  "median is the baseline")
    factor: float = Field(5.0, ge=1.0, le=1_000, description="how many times the baseline "
                          "the current window must reach")
    min_rate: float = Field(gt=0, description="absolute floor per window (events, or the "
                            "value_field's unit)")
    renotify_secs: float = Field(300, gt=0, le=86_400, description="quiet time per key after "
                                 "a finding")


# State per key: (index of the current window (ts // window_secs), its total, the totals of the
# last baseline_windows windows, the time of its first event, up to 5 of its event ids, the
# median of the history: the baseline, which changes only when a window closes)
NO_RATE = (None, 0.0, (), 0.0, (), 0.0)


class RateSpikeDetector(WindowDetector):
    def __init__(self, rule: RateSpikeRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.value_field = rule.value_field
        self.baseline_windows = rule.baseline_windows
        self.factor = rule.factor
        self.min_rate = rule.min_rate
        self.renotify_secs = rule.renotify_secs

    def value(self, event: dict) -> float:
        if self.value_field is None:
            return 1.0
        value = event.get(self.value_field)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            return 0.0
        duration = event.get("event.duration")
        if isinstance(duration, (int, float)) and duration > 0:
            windows = duration / NS_PER_SEC / self.window_secs
            if windows > 1:
                return value / windows
        return float(value)

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        value = self.value(event)
        return (key, value) if value > 0 else None

    def observe(self, event: dict, ts: float, key: tuple, value: float) -> dict | None:
        window, total, history, first, ids, baseline = self.state.fetch(key) or NO_RATE
        index = int(ts // self.window_secs)
        if window is None:
            window, first = index, ts
        elif index > window:
            # windows without any event are part of the baseline too (as zeros)
            empty = min(index - window - 1, self.baseline_windows)
            history = (history + (total,) + (0.0,) * empty)[-self.baseline_windows:]
            baseline = median(history)
            window, total, first, ids = index, 0.0, ts, ()
        total += value
        if len(ids) < 5:
            ids += (event.get("event.id"),)
        self.state.put(key, (window, total, history, first, ids, baseline))
        needed = max(self.min_rate, self.factor * baseline)
        if total < needed or self.quiet(key, ts):
            return None
        evidence = Evidence(round(total), first, ts, ids, event)
        extra = {"shouwang.rate.current": round(total, 1),
                 "shouwang.rate.baseline": round(baseline, 1),
                 "shouwang.rate.threshold": round(needed, 1),
                 "baseline": round(baseline, 1)}
        finding = self.fire(key, ts, evidence, extra)
        self._quiet.put(key, ts + self.renotify_secs)
        return finding


RULE_TYPE = RuleType("rate_spike", RateSpikeRule, RateSpikeDetector,
                     "rate per key in a short window against a median baseline and a floor")
