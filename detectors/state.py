"""Bounded per-key state for window detectors, and the detectors' metrics.

`KeyedState` keeps at most `max_keys` entries; touching a key makes it the most recent, and a
new key beyond the bound evicts the least recently seen one. Every eviction is counted
(shouwang_detector_evicted_keys_total{rule}), because an evicted key forgets its partial count:
an attacker who sprays from more addresses than the bound may stay under a threshold, and ops
must be able to see that happening.

Per-key window state of the rules that see many keys (an address per key) is immutable tuples
of numbers and strings, replaced on each update (`fetch`, `put`, `slide`), not lists or objects
changed in place. CPython stops tracking such tuples in the garbage collector at its next young
collection; lists and objects stay tracked for life, and 100k keys per rule in several rules
made every full collection walk millions of them (a third of the engine's time went to it).
Best flat, numbers and strings only: a tuple is untracked only once the tuples inside it are,
and a new inner tuple, referenced only by the new outer one, is put behind it while the
collector sorts out what is reachable, so nested state stays tracked into the older
generations (walked again by each of their collections) until a collection of those.
Rules with few keys (fault series, Sigma correlations) keep mutable state (`get`).
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


def drop_through(entries: tuple, horizon: float, stride: int) -> tuple:
    """Flat `entries` (`stride` items each, a time first) without the leading entries at or
    before `horizon`."""
    start, size = 0, len(entries)
    while start < size and entries[start] <= horizon:
        start += stride
    return entries[start:] if start else entries


def slide(entries: tuple, entry: tuple, maxlen: int, horizon: float = float("-inf")) -> tuple:
    """Flat `entries` (entries of len(entry) items, a time first) with `entry`'s items
    appended, at most the newest `maxlen` entries, and without the leading entries at or
    before `horizon`."""
    stride = len(entry)
    entries += entry
    most = maxlen * stride
    if len(entries) > most:
        entries = entries[len(entries) - most:]
    return drop_through(entries, horizon, stride)


class KeyedState(Generic[S]):
    """An LRU map key -> state with a hard bound and an eviction callback. Keys are tuples of
    scalars; a key of one field is held as its value (equal keys stay equal, and no scalar
    equals a tuple): a string hashes from its cache and compares at once, where a tuple is
    hashed and compared item by item on every lookup, and it is not one more object per key
    for the garbage collector (most rules key on one address)."""

    __slots__ = ("max_keys", "_items", "_on_evict", "_evictions")

    def __init__(self, max_keys: int, on_evict: Callable[[int], None]):
        self.max_keys = max_keys
        self._items: OrderedDict[Hashable, S] = OrderedDict()
        self._on_evict = on_evict
        self._evictions = 0

    def get(self, key: tuple, factory: Callable[[], S]) -> S:
        if len(key) == 1:
            key = key[0]
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

    def fetch(self, key: tuple):
        """The immutable state of `key` (now the most recent), or None."""
        if len(key) == 1:
            key = key[0]
        items = self._items
        state = items.get(key)
        if state is not None:
            items.move_to_end(key)
        return state

    def put(self, key: tuple, state) -> None:
        """Store the new immutable state of `key` (fetched just before, or new)."""
        if len(key) == 1:
            key = key[0]
        items = self._items
        if len(items) >= self.max_keys and key not in items:
            items.popitem(last=False)
            self._evictions += 1
            if self._evictions >= EVICTIONS_PER_REPORT:
                self.report_evictions()
        items[key] = state

    def report_evictions(self) -> None:
        """Hand the evictions counted so far to `on_evict(count)`."""
        if self._evictions:
            self._on_evict(self._evictions)
            self._evictions = 0

    def items(self) -> list[tuple[tuple, S]]:
        """(key, state) of every key, least recently used first; keys as tuples again."""
        return [(key if type(key) is tuple else (key,), state)
                for key, state in self._items.items()]

    def drop(self, key: tuple) -> None:
        self._items.pop(key[0] if len(key) == 1 else key, None)

    def __len__(self) -> int:
        return len(self._items)
