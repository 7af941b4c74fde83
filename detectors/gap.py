"""`event_gap` rules: a busy source fell silent and came back (T1070 indicator removal: logs
deleted or logging stopped for a while; also a broken shipper).

Per key (host.hostname, say) the detector remembers the newest `min_events_before` event times.
When an event arrives at least `gap_secs` after the previous one of its key, and the key was busy
before (at least `min_events_before` events within `window_secs` before the silence), the
finding names the silent span. A host that is always quiet never fires: the busy condition is
what separates "the log was emptied" from "nothing happened".

Event time only: the finding is raised when events resume (a detector reads no wall clock);
a host that never comes back is what the probes and the collectors' staleness metrics report.
Memory per key: `min_events_before` times.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.events import format_ts
from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType


class EventGapRule(RuleBase):
    type: Literal["event_gap"]
    gap_secs: float = Field(gt=0, le=7 * 86_400, description="silence that counts as a gap")
    min_events_before: int = Field(20, ge=1, le=10_000, description="events within "
                                   "window_secs before the gap: the key was busy")


class EventGapDetector(WindowDetector):
    def __init__(self, rule: EventGapRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.gap_secs = rule.gap_secs
        self.min_events_before = rule.min_events_before

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        recent = self.state.fetch(key) or ()
        finding = None
        if recent and ts - recent[-1] >= self.gap_secs:
            last = recent[-1]
            busy = len(recent) >= self.min_events_before and \
                last - recent[0] <= self.window_secs
            if busy and not self.quiet(key, ts):
                evidence = Evidence(len(recent), recent[0], ts, [event.get("event.id")], event)
                minutes = round((ts - last) / 60, 1)
                extra = {"shouwang.gap.start": format_ts(last), "shouwang.gap.end": format_ts(ts),
                         "shouwang.gap.secs": round(ts - last, 3), "gap_minutes": minutes,
                         "gap_start": format_ts(last)}
                finding = self.fire(key, ts, evidence, extra)
            recent = ()
        self.state.put(key, (recent + (ts,))[-self.min_events_before:])
        return finding


RULE_TYPE = RuleType("event_gap", EventGapRule, EventGapDetector,
                     "a busy key's events stopped for a while and resumed")
