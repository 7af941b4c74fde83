"""`sequence` rules: ordered steps per key within `window_secs`, e.g. a successful login after
at least five failures from the same address (T1110: the brute force worked).

    steps:
      - match: {event.outcome: failure}
        min_count: 5
      - match: {event.outcome: success}

The first step slides: its newest `min_count` events count, so a slow trickle of failures
hours ago does not arm the rule. Later steps must follow within `window_secs` of the oldest
event that armed the first. The top-level `match`/`unless` filter applies to every step.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.conditions import FieldTest, compile_conditions
from core.settings import StrictModel
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType
from detectors.state import drop_through, slide


class Step(StrictModel):
    match: dict[str, FieldTest] = Field(min_length=1)
    unless: dict[str, FieldTest] = Field(default_factory=dict)
    min_count: int = Field(1, ge=1, le=10_000)


class SequenceRule(RuleBase):
    type: Literal["sequence"]
    steps: list[Step] = Field(min_length=2, max_length=8)


# State per key: (first, done, count, ids): step 0's events as a flat (time, event id, time,
# event id, ...) tuple (at most its min_count; flat: nested tuples stay tracked by the garbage
# collector, detectors/state.py), the steps completed, the events of the current later step
# and their event ids.
NO_PROGRESS = ((), 0, 0, ())


class SequenceDetector(WindowDetector):
    def __init__(self, rule: SequenceRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.steps = [compile_conditions(step.match, step.unless) for step in rule.steps]
        self.min_counts = [step.min_count for step in rule.steps]

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        matched = tuple(index for index, test in enumerate(self.steps) if test(event))
        if not matched:
            return None
        return key, matched

    def _rearm(self, first: tuple, ts: float) -> tuple:
        """The state after step 0's events changed: armed again when enough are in the window."""
        first = drop_through(first, ts - self.window_secs, 2)
        return first, 1 if len(first) >= 2 * self.min_counts[0] else 0, 0, ()

    def observe(self, event: dict, ts: float, key: tuple, matched: tuple) -> dict | None:
        first, done, count, ids = self.state.fetch(key) or NO_PROGRESS
        if done and ts - first[0] > self.window_secs:
            first, done, count, ids = self._rearm(first, ts)
        if done and done in matched:
            count += 1
            ids += (event.get("event.id"),)
            if count >= self.min_counts[done]:
                done += 1
                count = 0
            if done == len(self.steps):
                self.state.put(key, NO_PROGRESS)
                return self._complete(first, event, ts, key)
        elif 0 in matched:
            first = slide(first, (ts, event.get("event.id")), self.min_counts[0])
            if done <= 1:
                first, done, count, ids = self._rearm(first, ts)
        self.state.put(key, (first, done, count, ids))
        return None

    def _complete(self, first: tuple, event: dict, ts: float, key: tuple):
        if self.quiet(key, ts):
            return None
        prior = len(first) // 2
        ids = list(first[1:6:2]) + [event.get("event.id")]
        evidence = Evidence(prior + 1, first[0], ts, ids, event)
        return self.fire(key, ts, evidence, {"shouwang.evidence.prior_count": prior})


RULE_TYPE = RuleType("sequence", SequenceRule, SequenceDetector,
                     "ordered steps per key within a window")
