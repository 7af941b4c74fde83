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
from detectors.state import drop_through, push_bounded


class Step(StrictModel):
    match: dict[str, FieldTest] = Field(min_length=1)
    unless: dict[str, FieldTest] = Field(default_factory=dict)
    min_count: int = Field(1, ge=1, le=10_000)


class SequenceRule(RuleBase):
    type: Literal["sequence"]
    steps: list[Step] = Field(min_length=2, max_length=8)


class _Progress:
    __slots__ = ("first", "done", "count", "ids")

    def __init__(self):
        self.first: list = []  # (time, event id) of step 0, at most the first step's count
        self.done = 0          # steps completed
        self.count = 0         # events of the current (later) step
        self.ids: list = []    # event ids of later steps


class SequenceDetector(WindowDetector):
    def __init__(self, rule: SequenceRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.steps = [compile_conditions(step.match, step.unless) for step in rule.steps]
        self.min_counts = [step.min_count for step in rule.steps]

    def select(self, event: dict):
        chosen = super().select(event)
        if chosen is None:
            return None
        matched = tuple(index for index, test in enumerate(self.steps) if test(event))
        if not matched:
            return None
        return chosen[0], matched

    def _rearm(self, progress: _Progress, ts: float) -> None:
        horizon = ts - self.window_secs
        drop_through(progress.first, horizon)
        progress.done = 1 if len(progress.first) >= self.min_counts[0] else 0
        progress.count = 0
        progress.ids = []

    def observe(self, event: dict, ts: float, key: tuple, matched: tuple) -> dict | None:
        progress = self.state.get(key, _Progress)
        if progress.done and ts - progress.first[0][0] > self.window_secs:
            self._rearm(progress, ts)
        step = progress.done
        if step and step in matched:
            progress.count += 1
            progress.ids.append(event.get("event.id"))
            if progress.count >= self.min_counts[step]:
                progress.done += 1
                progress.count = 0
            if progress.done == len(self.steps):
                return self._complete(progress, event, ts, key)
        elif 0 in matched:
            push_bounded(progress.first, (ts, event.get("event.id")), self.min_counts[0])
            if progress.done <= 1:
                self._rearm(progress, ts)
        return None

    def _complete(self, progress: _Progress, event: dict, ts: float, key: tuple):
        first = list(progress.first)
        progress.first.clear()
        progress.done = 0
        progress.ids = []
        if self.quiet(key, ts):
            return None
        ids = [i for _, i in first][:3] + [event.get("event.id")]
        evidence = Evidence(len(first) + 1, first[0][0], ts, ids, event)
        return self.fire(key, ts, evidence, {"shouwang.evidence.prior_count": len(first)})


RULE_TYPE = RuleType("sequence", SequenceRule, SequenceDetector,
                     "ordered steps per key within a window")
