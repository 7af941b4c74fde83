"""Gates: cheap necessary conditions of rules, so that an event meets only the rules that can
select it.

A detector may carry `gates`, a tuple of requirements that must all hold; a requirement is a
tuple of (feature, tokens) alternatives, one of which must hold: what `feature(event)` returns
meets the frozenset `tokens`. Built-in rules gate on the values their `match` conditions allow
(conditions.gates_of); Sigma rules on the patterns one of which must occur (the Scanner's hits).

Features compare equal by what they read, so each is computed once per event for all the rules
of its shape, and a `GatePlan` caches the rules left for each combination of feature results:
an event then costs the features and one dict lookup, not a select() call per rule that cannot
match. A gate never excludes an event its rule's select() would take (it is implied by the
rule's conditions); select() still decides.
"""
from __future__ import annotations

PLAN_CACHE_MAX = 10_000   # combinations of feature results come from input: bounded


class FieldValues:
    """Feature: the value of a field as hashable tokens (a list field: its scalar items)."""

    __slots__ = ("field",)

    def __init__(self, field: str):
        self.field = field

    def __eq__(self, other) -> bool:
        return type(other) is FieldValues and other.field == self.field

    def __hash__(self) -> int:
        return hash((FieldValues, self.field))

    def __call__(self, event: dict):
        value = event.get(self.field)
        if isinstance(value, list):
            tokens = tuple(value)
            try:
                hash(tokens)
            except TypeError:
                return tuple(item for item in value if not isinstance(item, (list, dict)))
            return tokens
        return () if isinstance(value, dict) else value


def _meets(result, tokens: frozenset) -> bool:
    if isinstance(result, (tuple, frozenset)):
        return not tokens.isdisjoint(result)
    return result in tokens


def passes(gates: tuple, results: dict) -> bool:
    """Whether every requirement of `gates` holds for the feature `results` of one event."""
    return all(any(_meets(results[feature], tokens) for feature, tokens in requirement)
               for requirement in gates)


class GatePlan:
    """The candidate detectors of one event shape, narrowed per event by their gates."""

    __slots__ = ("detectors", "features", "_chosen")

    def __init__(self, detectors: tuple):
        self.detectors = detectors
        self.features = tuple(dict.fromkeys(
            feature for detector in detectors for requirement in getattr(detector, "gates", ())
            for feature, _ in requirement))
        self._chosen: dict[tuple, tuple] = {}

    def select(self, event: dict) -> tuple:
        if not self.features:
            return self.detectors
        results = tuple([feature(event) for feature in self.features])
        chosen = self._chosen.get(results)
        if chosen is None:
            by_feature = dict(zip(self.features, results))
            chosen = tuple(detector for detector in self.detectors
                           if passes(getattr(detector, "gates", ()), by_feature))
            if len(self._chosen) >= PLAN_CACHE_MAX:
                self._chosen.clear()
            self._chosen[results] = chosen
        return chosen
