"""Sigma correlation rules as keyed sliding windows: event_count, value_count, temporal and
temporal_ordered, grouped by the `group-by` fields over `timespan`.

Window semantics: sliding (the last `timespan` seconds before each event, in event time, as the
engine orders events), like the SQLite backend's RANGE windows and unlike ES|QL's tumbling
buckets; so a burst that straddles a bucket edge is still caught. After a group fires it stays
quiet for one timespan (one finding per group per window), and its window starts afresh.

Conditions run as a stream can decide them when an event arrives: gte and gt. lt/lte/eq/neq
need the end of a window to be judged ("fewer than N in 10 minutes") and are rejected with
that reason when the rule loads.

Bounded state: at most `max_keys` groups per rule (LRU, evictions counted); per group
event_count keeps at most `count` times, value_count at most `count` values, temporal one time
per referenced rule.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from sigma.correlations import (SigmaCorrelationCondition, SigmaCorrelationConditionOperator,
                                SigmaCorrelationType)

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.sigma.compiler import UnsupportedSigma
from detectors.sigma.detector import finish_finding

SUPPORTED_TYPES = {SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT,
                   SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED}


def needed_count(correlation) -> int:
    """How many events / values / rules make the condition true (rejects what cannot stream)."""
    if correlation.type not in SUPPORTED_TYPES:
        raise UnsupportedSigma(f"correlation type {correlation.type.name.lower()}")
    condition = correlation.condition
    if correlation.type in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
        if condition is None:
            return len(correlation.rules)
        if not isinstance(condition, SigmaCorrelationCondition):
            raise UnsupportedSigma("extended temporal condition expression")
    op = condition.op
    count = condition.count
    if op is SigmaCorrelationConditionOperator.GTE:
        return max(1, int(-(-count // 1)))
    if op is SigmaCorrelationConditionOperator.GT:
        return int(count // 1) + 1
    raise UnsupportedSigma(f"correlation condition {op.name.lower()} (needs end-of-window "
                           "evaluation; only gte/gt stream)")


class CorrelationDetector(WindowDetector):
    """One correlation rule over its referenced rules' predicates.

    `rule` is a SigmaRuleView whose `key` holds the group-by ECS fields; `members` are the
    referenced rules' predicates in the order the correlation lists them; `aliases` maps a
    group-by name to the field of each member (index -> field) when Sigma aliases differ.
    """

    def __init__(self, rule, metrics, created, *, kind: SigmaCorrelationType,
                 members: list, needed: int, value_field: str | None = None,
                 aliases: dict[str, dict[int, str]] | None = None):
        super().__init__(rule, metrics, created)
        self.kind = kind
        self.members = members
        self.needed = needed
        self.value_field = value_field
        self.aliases = aliases or {}

    def _key(self, event: dict, member: int) -> tuple | None:
        values = []
        for name in self.key_fields:
            field = self.aliases.get(name, {}).get(member, name)
            value = event.get(field)
            if value is None or value == "" or isinstance(value, (list, dict)):
                return None
            values.append(value)
        return tuple(values)

    def select(self, event: dict):
        matched = tuple(index for index, test in enumerate(self.members) if test(event))
        if not matched:
            return None
        key = self._key(event, matched[0])
        if key is None:
            return None
        if self.kind is SigmaCorrelationType.VALUE_COUNT:
            value = event.get(self.value_field)
            if value is None or value == "" or isinstance(value, (list, dict)):
                return None
            info: Any = value
        else:
            info = matched
        return key, info

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            return self._event_count(event, ts, key)
        if self.kind is SigmaCorrelationType.VALUE_COUNT:
            return self._value_count(event, ts, key, info)
        return self._temporal(event, ts, key, info,
                              ordered=self.kind is SigmaCorrelationType.TEMPORAL_ORDERED)

    def _event_count(self, event, ts, key):
        window = self.state.get(key, lambda: deque(maxlen=self.needed))
        window.append((ts, event.get("event.id")))
        horizon = ts - self.window_secs
        while window and window[0][0] <= horizon:
            window.popleft()
        if len(window) < self.needed or self.quiet(key, ts):
            return None
        evidence = Evidence(len(window), window[0][0], ts, [i for _, i in window], event)
        window.clear()
        return self._fire(key, ts, evidence, {})

    def _value_count(self, event, ts, key, value):
        seen: OrderedDict = self.state.get(key, OrderedDict)
        seen.pop(value, None)
        seen[value] = (ts, event.get("event.id"))
        horizon = ts - self.window_secs
        while seen:
            oldest = next(iter(seen.values()))
            if oldest[0] > horizon and len(seen) <= self.needed:
                break
            seen.popitem(last=False)
        if len(seen) < self.needed or self.quiet(key, ts):
            return None
        stamps = list(seen.values())
        evidence = Evidence(len(seen), stamps[0][0], ts, [i for _, i in stamps], event,
                            list(seen))
        extra = {"shouwang.evidence.distinct_field": self.value_field,
                 "shouwang.evidence.distinct_values": [str(v) for v in list(seen)[:20]]}
        if self.value_field == "user.name":
            extra["related.user"] = [str(v) for v in seen]
        seen.clear()
        return self._fire(key, ts, evidence, extra)

    def _temporal(self, event, ts, key, matched, *, ordered: bool):
        # unordered: member -> (time, event id) of its latest match;
        # ordered: step -> (start time of the chain, ids) once steps 0..step are done in order
        progress: dict = self.state.get(key, dict)
        horizon = ts - self.window_secs
        for member in sorted(matched, reverse=ordered):
            if not ordered:
                progress[member] = (ts, [event.get("event.id")])
            elif member == 0:
                progress[0] = (ts, [event.get("event.id")])
            elif member - 1 in progress and progress[member - 1][0] > horizon:
                start, ids = progress[member - 1]
                progress[member] = (start, ids + [event.get("event.id")])
        for member in [m for m, (start, _) in progress.items() if start <= horizon]:
            del progress[member]
        if ordered:
            done = len(self.members) - 1 in progress
            first, ids = progress.get(len(self.members) - 1, (ts, []))
        else:
            done = len(progress) >= self.needed
            first = min((start for start, _ in progress.values()), default=ts)
            ids = [i for _, member_ids in progress.values() for i in member_ids]
        if not done or self.quiet(key, ts):
            return None
        evidence = Evidence(len(progress), first, ts, ids, event)
        progress.clear()
        return self._fire(key, ts, evidence, {})

    def _fire(self, key, ts, evidence, extra):
        return finish_finding(self.fire(key, ts, evidence, extra or None), self.rule)
