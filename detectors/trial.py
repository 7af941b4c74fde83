"""Trying one rule over log lines, line by line (what `shouwang rules test` prints and what the
sample tests check): which lines the rule selects, what key it extracts, and the findings the
whole run raises, as fail2ban-regex does for a filter.

Parsing is passed in (`parse(line) -> event | None`), so detectors do not depend on collectors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from prometheus_client import CollectorRegistry

from detectors.engine import Engine


@dataclass
class LineResult:
    number: int
    line: str
    event: dict | None
    selected: bool
    key: dict = field(default_factory=dict)


@dataclass
class TrialResult:
    lines: list[LineResult]
    findings: list[dict]

    @property
    def selected(self) -> list[LineResult]:
        return [item for item in self.lines if item.selected]


def run_trial(loaded_rule, numbered_lines: list[tuple[int, str]],
              parse: Callable[[str], dict | None]) -> TrialResult:
    """Run `loaded_rule` alone over the lines (in file order; the engine orders by event time)."""
    engine = Engine.build([loaded_rule], registry=CollectorRegistry(),
                          allowed_lateness_secs=float("inf"))
    detector = engine.detectors[0]
    results = []
    events = []
    for number, line in numbered_lines:
        event = parse(line)
        chosen = None
        # candidates() also filters by event.kind (the kinds the rule reads)
        if event is not None and detector in engine.candidates(event):
            chosen = detector.select(event)
        key = dict(zip(detector.key_fields, chosen[0])) if chosen else {}
        results.append(LineResult(number, line, event, chosen is not None, key))
        if event is not None:
            events.append(event)
    findings = engine.process(events) + engine.flush()
    return TrialResult(results, findings)
