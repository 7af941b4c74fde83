"""Bounded per-key state for window detectors, and the detectors' metrics.

`KeyedState` keeps at most `max_keys` entries; touching a key makes it the most recent, and a
new key beyond the bound evicts the least recently seen one. Every eviction is counted
(shouwang_detector_evicted_keys_total{rule}), because an evicted key forgets its partial count:
an attacker who sprays from more addresses than the bound may stay under a threshold, and ops
must be able to see that happening.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

S = TypeVar("S")
EVICTIONS_PER_REPORT = 1024   # the engine also reports what is left after every batch


class DetectorMetrics:
    """Counters of the detection engine, on an injected registry."""

    def __init__(self, registry: CollectorRegistry):
        self.matched = Counter("shouwang_detector_matched_events",
                               "Events that met a rule's conditions", ["rule"], registry=registry)
        self.findings = Counter("shouwang_detector_findings", "Findings raised", ["rule"],
                                registry=registry)
        self.suppressed = Counter("shouwang_detector_suppressed",
                                  "Threshold crossings not raised again within the same window",
                                  ["rule"], registry=registry)
        self.evicted = Counter("shouwang_detector_evicted_keys",
                               "Keys forgotten because a rule's state was full (LRU)", ["rule"],
                               registry=registry)
        self.late = Counter("shouwang_detector_late_events",
                            "Events older than the watermark minus the allowed lateness, not "
                            "shown to window rules (they are still stored)", registry=registry)
        self.pending = Gauge("shouwang_detector_pending_events",
                             "Matched events waiting for the watermark", registry=registry)


def push_bounded(items: list, item, maxlen: int) -> None:
    """Append, dropping the oldest beyond `maxlen`. Per-key state uses small lists with this
    rather than deque(maxlen=...): an empty deque costs 760 bytes, a short list 64, and a
    rule can hold 100k keys."""
    items.append(item)
    if len(items) > maxlen:
        del items[0]


def drop_through(items: list, horizon: float) -> None:
    """Drop the leading (time, ...) entries at or before `horizon`."""
    count = 0
    for entry in items:
        if entry[0] > horizon:
            break
        count += 1
    if count:
        del items[:count]


class KeyedState(Generic[S]):
    """An LRU map key -> state with a hard bound and an eviction callback."""

    __slots__ = ("max_keys", "_items", "_on_evict", "_evictions")

    def __init__(self, max_keys: int, on_evict: Callable[[int], None]):
        self.max_keys = max_keys
        self._items: OrderedDict[Hashable, S] = OrderedDict()
        self._on_evict = on_evict
        self._evictions = 0

    def get(self, key: Hashable, factory: Callable[[], S]) -> S:
        items = self._items
        state = items.get(key)
        if state is not None:
            items.move_to_end(key)
            return state
        if len(items) >= self.max_keys:
            items.popitem(last=False)
            # Reported in lots: under a flood of new keys every get() evicts, and a metric
            # update per eviction (a lock) would cost more than the eviction.
            self._evictions += 1
            if self._evictions >= EVICTIONS_PER_REPORT:
                self.report_evictions()
        state = items[key] = factory()
        return state

    def report_evictions(self) -> None:
        """Hand the evictions counted so far to `on_evict(count)`."""
        if self._evictions:
            self._on_evict(self._evictions)
            self._evictions = 0

    def drop(self, key: Hashable) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
