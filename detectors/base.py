"""What the window detectors share: selecting events, keys, suppression and finding output.

Detector contract (the engine relies on it):
- `select(event)` is cheap and side-effect free: it returns None when the event is not for this
  rule (conditions fail, or a key field is missing), else `(key, info)`. The conditions and the
  key are one generated function, `selected_key` (conditions.compile_selector); a detector
  that keeps the base select() gets that function with `info` True as its select.
- `observe(event, ts, key, info)` is called in event-time order (the engine reorders within the
  allowed lateness) and returns a finding dict or None. Same calls in the same order give the
  same findings: detectors read no clock except `created()` for event.created.
- State is per key in a `KeyedState` bounded by the rule's `max_keys`.

Suppression: after a key fires, it stays quiet until `window_secs` after the firing event
(one finding per key per window); the next crossing after that raises a new finding.
"""
from __future__ import annotations

from typing import Any, Callable

from detectors.conditions import compile_selector, condition_terms, gates_of, predicate_of
from detectors.findings import Evidence, build_finding
from detectors.state import DetectorMetrics, KeyedState


class WindowDetector:
    """Base of the keyed window detectors (threshold, distinct, sequence, web_attack)."""

    def __init__(self, rule, metrics: DetectorMetrics, created: Callable[[], str]):
        self.rule = rule
        self.id = rule.id
        self.window_secs = float(rule.window_secs)
        self.datasets = tuple(rule.datasets)
        self.categories = tuple(rule.categories)
        self.key_fields = list(rule.key)
        terms = condition_terms(rule.match, rule.unless, rule.any_of)
        self.predicate = predicate_of(terms)
        self.alternatives = self.key_alternatives()
        self.selected_key = compile_selector(terms, self.alternatives,
                                             transform=self.key_transform)
        if type(self).select is WindowDetector.select:
            # called for every event of the rule's datasets: one frame instead of three
            self.select = compile_selector(terms, self.alternatives,
                                           transform=self.key_transform, info=True)
        self.gates = gates_of(rule.match)   # the engine's prefilter (detectors/gates.py)
        self.metrics = metrics
        self._created = created
        self.matched = metrics.matched.labels(rule.id)  # counted by the engine
        self._findings = metrics.findings.labels(rule.id)
        self._suppressed = metrics.suppressed.labels(rule.id)
        self.state: KeyedState = KeyedState(rule.max_keys, metrics.evicted.labels(rule.id).inc)
        # key -> event time until which a fired key stays quiet
        self._quiet: KeyedState = KeyedState(rule.max_keys, lambda count: None)

    # a key tuple -> the key the rule counts under, or None to drop the event (a staticmethod)
    key_transform: Callable[[tuple], tuple | None] | None = None

    def key_alternatives(self) -> list[tuple[str, ...]]:
        """The fields of each key entry, first present one wins (here: one field each)."""
        return [(field,) for field in self.key_fields]

    def select(self, event: dict) -> tuple[tuple, Any] | None:
        key = self.selected_key(event)
        if key is None:
            return None
        return key, True

    def observe(self, event: dict, ts: float, key: tuple, info: Any) -> dict | None:
        raise NotImplementedError

    def quiet(self, key: tuple, ts: float) -> bool:
        """True (and counted) while `key` is inside the window after its last finding."""
        until = self._quiet.fetch(key)
        if until is not None and ts < until:
            self._suppressed.inc()
            return True
        return False

    def fire(self, key: tuple, ts: float, evidence: Evidence, extra: dict | None = None) -> dict:
        self._quiet.put(key, ts + self.window_secs)
        self._findings.inc()
        return build_finding(self.rule, self.key_fields, key, evidence, created=self._created(),
                             extra=extra)
