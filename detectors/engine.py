"""The streaming detection engine: event batches in, findings (alert events) out.

    engine = Engine(detectors, registry=CollectorRegistry(), allowed_lateness_secs=30)
    findings = engine.process(batch)   # any number of times, batches of any size
    findings += engine.flush()         # end of input (offline) or shutdown

Guarantees:
- Indexing: each rule names the event.dataset values (or event.category values) it reads; an
  event meets only the rules indexed under its dataset or one of its categories, plus rules that
  name neither. The candidate list is cached per (dataset, categories) shape, and narrowed by
  the rules' gates (detectors/gates.py): values their conditions require, patterns one of which
  must occur.
- Event time: rules see events in @timestamp order. A matched event waits in a buffer until the
  watermark (the newest @timestamp seen minus `allowed_lateness_secs`) passes it, so events up
  to that much out of order are reordered exactly. Older events are counted as late
  (shouwang_detector_late_events_total) and not shown to rules; they are still stored.
- Determinism: ties in @timestamp keep arrival order, so the same events in the same order give
  the same findings whatever the batch boundaries.
- Hold: events wait `hold_secs` behind the newest event time before rules see them (default:
  the whole allowed lateness, which makes reordering exact). A live monitor holds far less
  (`DetectionSettings.hold_secs`) so a finding follows its event within a tick: events that
  arrive out of order but within the lateness are then shown to rules on arrival (counted in
  their windows, slightly out of order) instead of being reordered.
- Bounded memory: window state per rule is an LRU of `max_keys` keys; the reorder buffer holds at
  most `max_pending_events` matched events (beyond that the oldest are released early, which
  only costs exact ordering of stragglers).
- Buffering: a matched event waits once, with what every rule selected from it, not once per
  rule. Events arriving in time order (nearly all) wait in a FIFO; only those older than the
  newest seen go through a heap, and the two are merged on release. Within one event, rules
  observe in rule order. A record is flat: [time, arrival, event, end, then (detector, key,
  info) per rule]; the FIFO packs a batch's records into one list. Buffered objects live long
  enough to reach the garbage collector's oldest generation, and every few thousand arriving
  there trigger a full collection, which walks all window state: one list per batch instead of
  objects per event and rule keeps full collections rare.
- A clock (live use) caps event times at wall time + `max_future_secs`: one forged syslog line
  dated 2099 must not push the watermark ahead and blind every rule (all later events "late").
  `advance(now)` lets a quiet stream's buffered events out after about twice the lateness.
- Only events of kind `event` are examined, unless a detector names other kinds in its
  `kinds` attribute (fault rules read `metric` and `state` events); `alert` is never examined,
  so findings fed back through the pipeline do not trigger rules.
- Ticks: a detector with a `tick(watermark)` method is called after each release with the
  watermark (event time up to which everything was shown to rules; the newest event time at
  flush), so it can raise findings for what did NOT happen (a source gone silent, a rate
  bucket that closed empty). `advance(now)` moves the watermark by wall time when quiet.
"""
from __future__ import annotations

import heapq
import time
from collections import deque
from itertools import count
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry

from core.events import event_epoch, format_ts
from detectors.gates import GatePlan
from detectors.state import DetectorMetrics

DEFAULT_ALLOWED_LATENESS_SECS = 30.0
DEFAULT_MAX_PENDING_EVENTS = 200_000
DEFAULT_MAX_FUTURE_SECS = 300.0
DEFAULT_KINDS = ("event",)
RECORD_HEAD = (None, None, None, None)   # time, arrival, event, end: filled once selected


class Engine:
    """Runs detectors over batches of events (see the module docstring for the contract)."""

    def __init__(self, detectors: list, *, registry: CollectorRegistry | None = None,
                 metrics: DetectorMetrics | None = None,
                 allowed_lateness_secs: float = DEFAULT_ALLOWED_LATENESS_SECS,
                 max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
                 clock: Callable[[], float] | None = None,
                 max_future_secs: float = DEFAULT_MAX_FUTURE_SECS,
                 hold_secs: float | None = None):
        self.detectors = list(detectors)
        self.metrics = metrics or DetectorMetrics(registry or CollectorRegistry())
        self.allowed_lateness_secs = allowed_lateness_secs
        self.hold_secs = allowed_lateness_secs if hold_secs is None else min(
            hold_secs, allowed_lateness_secs)
        self.max_pending_events = max_pending_events
        self.clock = clock
        self.max_future_secs = max_future_secs
        self._created: Callable[[], str] = lambda: format_ts(time.time())
        self._index(self.detectors)
        # Records (see the module docstring): in time order packed per batch in the FIFO (the
        # first list read from `_head` on), one list each in the heap; arrival breaks ties.
        self._in_order: deque[list] = deque()
        self._head = 0
        self._reordered: list[list] = []
        self._pending = 0
        self._arrival = count()
        self.newest = float("-inf")

    def _index(self, detectors: list) -> None:
        """Everything derived from the detector list (rebuilt by `reload`)."""
        self.detectors = list(detectors)
        self._by_dataset: dict[str, list] = {}
        self._by_category: dict[str, list] = {}
        self._everywhere: list = []
        for detector in self.detectors:
            if detector.datasets:
                for dataset in detector.datasets:
                    self._by_dataset.setdefault(dataset, []).append(detector)
            elif detector.categories:
                for category in detector.categories:
                    self._by_category.setdefault(category, []).append(detector)
            else:
                self._everywhere.append(detector)
        self._order = {id(d): position for position, d in enumerate(self.detectors)}
        self._states = [d.state for d in self.detectors if hasattr(d, "state")]
        self._kinds = frozenset(kind for d in self.detectors
                                for kind in getattr(d, "kinds", DEFAULT_KINDS)) - {"alert"}
        self._tickers = [d for d in self.detectors if hasattr(d, "tick")]
        self._candidates: dict[tuple, GatePlan] = {}

    def reload(self, loaded_rules: Iterable) -> dict[str, int]:
        """Swap in a new rule set without a restart. A rule whose definition did not change
        keeps its detector, and so its window state and its buffered events; a new or changed
        rule starts empty; a removed rule's buffered events are dropped. Returns counts of
        kept, started and removed rules."""
        current = {detector.id: detector for detector in self.detectors}
        detectors, kept = [], 0
        for item in loaded_rules:
            previous = current.get(item.rule.id)
            if (previous is not None and type(previous) is item.kind.detector
                    and getattr(previous, "rule", None) == item.rule):
                detectors.append(previous)
                kept += 1
            else:
                detectors.append(item.kind.detector(item.rule, self.metrics, self._created))
        kept_detectors = set(detectors)
        packed: list = []
        for number, batch in enumerate(self._in_order):
            for record in _records(batch, self._head if number == 0 else 0):
                _pack(packed, record, kept_detectors)
        self._in_order, self._head = deque([packed] if packed else []), 0
        reordered = []
        for record in self._reordered:
            kept_record: list = []
            _pack(kept_record, next(_records(record, 0)), kept_detectors)
            if kept_record:
                reordered.append(kept_record)
        heapq.heapify(reordered)
        self._reordered = reordered
        self._pending = sum(1 for batch in self._in_order for _ in _records(batch, 0)) + \
            len(reordered)
        removed = len(set(current) - {detector.id for detector in detectors})
        self._index(detectors)
        return {"kept": kept, "started": len(detectors) - kept, "removed": removed}

    @classmethod
    def build(cls, loaded_rules: Iterable, *, registry: CollectorRegistry | None = None,
              clock: Callable[[], float] = time.time, live: bool = False,
              **options) -> "Engine":
        """An engine for rules loaded by detectors.rules.load_rules. `live` caps event times
        by `clock` (a monitor); offline replays of old files must not set it."""
        metrics = DetectorMetrics(registry or CollectorRegistry())
        created = lambda: format_ts(clock())  # noqa: E731 - the one clock findings read
        detectors = [item.kind.detector(item.rule, metrics, created) for item in loaded_rules]
        engine = cls(detectors, metrics=metrics, clock=clock if live else None, **options)
        engine._created = created
        return engine

    def candidates(self, event: dict) -> tuple:
        """The rules indexed for the event's dataset, categories and kind (gates aside)."""
        return self._plan(event).detectors

    def _plan(self, event: dict) -> GatePlan:
        dataset = event.get("event.dataset")
        categories = event.get("event.category")
        kind = event.get("event.kind", "event")
        shape = (dataset, tuple(categories) if isinstance(categories, list) else categories,
                 kind)
        plan = self._candidates.get(shape)
        if plan is None:
            chosen = list(self._by_dataset.get(dataset, ()))
            for category in shape[1] if isinstance(shape[1], tuple) else (shape[1],):
                for detector in self._by_category.get(category, ()):
                    if detector not in chosen:
                        chosen.append(detector)
            chosen += [d for d in self._everywhere if d not in chosen]
            chosen = [d for d in chosen if kind != "alert"
                      and kind in getattr(d, "kinds", DEFAULT_KINDS)]
            chosen.sort(key=lambda d: self._order[id(d)])
            plan = self._candidates[shape] = GatePlan(tuple(chosen))
            if len(self._candidates) > 10_000:  # shapes come from input: keep the cache bounded
                self._candidates.clear()
        return plan

    def process(self, events: Iterable[dict]) -> list[dict]:
        """Examine a batch; return the findings whose events the watermark has passed."""
        reordered, arrival = self._reordered, self._arrival
        plan = self._plan
        latest = self.clock() + self.max_future_secs if self.clock else float("inf")
        last_stamp, last_ts = None, 0.0
        kinds = self._kinds
        newest = self.newest
        oldest_allowed = newest - self.allowed_lateness_secs
        late = added = 0
        # Matches are counted here and added to the metric once per batch: a Prometheus
        # counter takes a lock per inc(), which cost more than some rules themselves.
        matched: dict = {}
        packed: list = []
        for event in events:
            if event.get("event.kind", "event") not in kinds:
                continue
            start = len(packed)
            for detector in plan(event).select(event):
                chosen = detector.select(event)
                if chosen is not None:
                    if len(packed) == start:
                        packed += RECORD_HEAD
                    packed.append(detector)
                    packed += chosen
                    matched[detector] = matched.get(detector, 0) + 1
            if len(packed) == start:
                continue
            stamp = event.get("@timestamp")
            if stamp is not None and stamp == last_stamp:
                ts = last_ts  # events of one second share a stamp: parse it once
            else:
                ts = last_ts = event_epoch(event)
                last_stamp = stamp
            if ts > latest:
                ts = latest
            if ts >= newest:
                newest = ts
                oldest_allowed = newest - self.allowed_lateness_secs
                packed[start:start + 4] = ts, next(arrival), event, len(packed)
                added += 1
            else:
                if ts >= oldest_allowed:
                    record = [ts, next(arrival), event, 0] + packed[start + 4:]
                    record[3] = len(record)
                    heapq.heappush(reordered, record)
                    added += 1
                else:
                    late += 1
                del packed[start:]
        if packed:
            self._in_order.append(packed)
        self._pending += added
        self.newest = newest
        if late:
            self.metrics.late.inc(late)
        for detector, number in matched.items():
            detector.matched.inc(number)
        return self._release(newest - self.hold_secs)

    def advance(self, now: float) -> list[dict]:
        """Let wall-clock time move the watermark when a stream goes quiet (live use)."""
        if now - self.allowed_lateness_secs > self.newest:
            self.newest = now - self.allowed_lateness_secs
        watermark = self.newest - self.hold_secs
        if self.hold_secs < self.allowed_lateness_secs:
            # Live: what is older than the hold by wall time is shown to rules now, not only
            # once the lateness has passed (a burst followed by silence still alerts at once).
            watermark = max(watermark, now - self.hold_secs)
        return self._release(watermark)

    def flush(self) -> list[dict]:
        """Release everything buffered (end of input)."""
        return self._release(float("inf"))

    def _release(self, watermark: float) -> list[dict]:
        in_order, reordered = self._in_order, self._reordered
        findings = []
        overflow = self._pending - self.max_pending_events
        head = self._head
        while True:
            if in_order and head == len(in_order[0]):
                in_order.popleft()
                head = 0
                continue
            batch = in_order[0] if in_order else None
            if reordered and (batch is None or (reordered[0][0], reordered[0][1])
                              < (batch[head], batch[head + 1])):
                record, at = reordered[0], 0
                if record[0] > watermark and overflow <= 0:
                    break
                heapq.heappop(reordered)
            elif batch is not None:
                record, at = batch, head
                if record[at] > watermark and overflow <= 0:
                    break
                head = record[at + 3]
            else:
                break
            overflow -= 1
            self._pending -= 1
            ts, event, end = record[at], record[at + 2], record[at + 3]
            for index in range(at + 4, end, 3):
                finding = record[index].observe(event, ts, record[index + 1], record[index + 2])
                if finding is not None:
                    findings.append(finding)
        self._head = head
        if self._tickers:
            # at flush (watermark +inf) time stands at the newest event seen, not beyond
            now = self.newest if watermark == float("inf") else watermark
            if now != float("-inf"):
                for detector in self._tickers:
                    findings += detector.tick(now)
        for state in self._states:
            state.report_evictions()
        self.metrics.pending.set(self._pending)
        return findings

    def hook(self, deliver: Callable[[list[dict]], object],
             clock: Callable[[], float] | None = None):
        """A pipeline hook (core.pipeline.Pipeline.add_hook) that hands findings to `deliver`
        (an Emitter.emit of the pipeline, or alerting). With a `clock`, quiet streams still
        release their buffered events once wall time passes the allowed lateness."""
        async def detect(events: list[dict]) -> None:
            findings = self.process(events)
            if clock is not None:
                findings += self.advance(clock())
            if findings:
                result = deliver(findings)
                if hasattr(result, "__await__"):
                    await result
        detect.__name__ = "detectors"
        return detect


def _records(packed: list, at: int) -> Iterable[tuple]:
    """(time, arrival, event, selections) of the records of `packed` from position `at`."""
    while at < len(packed):
        end = packed[at + 3]
        yield packed[at], packed[at + 1], packed[at + 2], packed[at + 4:end]
        at = end


def _pack(packed: list, record: tuple, detectors: set) -> None:
    """Append `record` with only the selections of `detectors` (nothing if none is left)."""
    ts, arrival, event, selections = record
    kept = [item for index in range(0, len(selections), 3)
            if selections[index] in detectors for item in selections[index:index + 3]]
    if kept:
        start = len(packed)
        packed += (ts, arrival, event, start + 4 + len(kept))
        packed += kept
