"""`silence` rules (dead-man's switch): a source, agent or host whose events stop for longer
than `expected_interval_secs` x `missed_intervals`.

Nothing arrives to observe when a source dies, so this rule works from the engine's ticks
(Engine.advance in live use moves the watermark with the wall clock; every release ticks):
tick(watermark) raises a finding for each key whose last event is older than the timeout.
Times are event times: a silence is found at last_seen + timeout, whatever the tick rate, so
replays give the same findings. While a key stays silent the finding repeats every
`window_secs`; an event from it ends the silence.

`expected` names keys that must report even if they never did since start: they are watched
from the first tick.

State: one entry per key (last seen, identity fields, when it last fired) in an LRU of
`max_keys`, and a heap of deadlines with one entry per key (rebuilt if evictions leave more
than twice as many stale entries as keys).
"""
from __future__ import annotations

import heapq
from collections import OrderedDict
from itertools import count
from typing import Literal

from pydantic import Field, model_validator

from core.events import format_ts
from detectors.faults.base import IDENTITY_FIELDS, FaultDetector, FaultRuleBase, finish_fault
from detectors.findings import Evidence, build_finding
from detectors.rules import RuleType

KEPT_FIELDS = IDENTITY_FIELDS + ("event.dataset", "labels.system", "labels.component",
                                 "agent.version")


class SilenceRule(FaultRuleBase):
    type: Literal["silence"]
    expected_interval_secs: float = Field(gt=0, le=86_400, description="how often the source "
                                          "reports (heartbeat or scrape interval)")
    missed_intervals: float = Field(3, ge=1, le=1000, description="intervals without an "
                                    "event before it counts as silent")
    expected: list[dict[str, str]] = Field(default_factory=list, description="keys (field "
                                           "-> value) watched even before their first event")

    @model_validator(mode="after")
    def _expected_keys(self):
        for item in self.expected:
            if sorted(item) != sorted(self.key):
                raise ValueError(f"each expected entry needs exactly the key fields {self.key}")
        return self


class _Source:
    __slots__ = ("last_seen", "fields", "notified", "scheduled", "event_id")

    def __init__(self, last_seen: float, fields: dict, event_id=None):
        self.last_seen = last_seen
        self.fields = fields
        self.notified: float | None = None   # when the current silence was last reported
        self.scheduled = False
        self.event_id = event_id


class SilenceDetector(FaultDetector):
    fault_type = "silence"
    category = ("host",)

    def __init__(self, rule: SilenceRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.timeout = rule.expected_interval_secs * rule.missed_intervals
        self.max_keys = rule.max_keys
        self._sources: OrderedDict[tuple, _Source] = OrderedDict()
        self._heap: list = []          # (deadline, seq, key, source)
        self._seq = count()
        self._started = False
        self._evicted = metrics.evicted.labels(rule.id)

    def _schedule(self, key: tuple, source: _Source, deadline: float) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), key, source))
        source.scheduled = True
        if len(self._heap) > 2 * self.max_keys + 16:
            self._heap = [entry for entry in self._heap
                          if self._sources.get(entry[2]) is entry[3]]
            heapq.heapify(self._heap)

    def _source(self, key: tuple, ts: float, fields: dict, event_id=None) -> _Source:
        source = self._sources.get(key)
        if source is None:
            if len(self._sources) >= self.max_keys:
                self._sources.popitem(last=False)
                self._evicted.inc()
            source = self._sources[key] = _Source(ts, fields, event_id)
        else:
            self._sources.move_to_end(key)
        return source

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        fields = {name: event[name] for name in KEPT_FIELDS if event.get(name) not in (None, "")}
        fields.update(zip(self.fields_of(event), key))
        source = self._source(key, ts, fields, event.get("event.id"))
        if ts >= source.last_seen:
            source.last_seen = ts
            source.fields = fields
            source.event_id = event.get("event.id")
        source.notified = None
        if not source.scheduled:
            self._schedule(key, source, source.last_seen + self.timeout)
        return None

    def tick(self, now: float) -> list[dict]:
        if not self._started:
            self._started = True
            for item in self.rule.expected:
                key = tuple(item[name] for name in self.key_fields)
                if key not in self._sources:
                    source = self._source(key, now, dict(item))
                    self._schedule(key, source, now + self.timeout)
        findings = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, key, source = heapq.heappop(heap)
            if self._sources.get(key) is not source:
                continue  # evicted since
            source.scheduled = False
            due = source.last_seen + self.timeout
            if due > deadline:
                self._schedule(key, source, due)   # it spoke since: watch the new deadline
                continue
            if source.notified is not None and deadline < source.notified + self.window_secs:
                self._schedule(key, source, source.notified + self.window_secs)
                continue
            findings.append(self._report(key, source, deadline))
            source.notified = deadline
            self._schedule(key, source, deadline + self.window_secs)
        return findings

    def _report(self, key: tuple, source: _Source, at: float) -> dict:
        silent = at - source.last_seen
        start = source.last_seen if source.notified is None else source.notified
        last = dict(source.fields)
        evidence = Evidence(0, start, at, [source.event_id], last)
        extra = {"shouwang.fault.silent_secs": round(silent),
                 "shouwang.fault.silent_minutes": round(silent / 60, 1),
                 "shouwang.fault.expected_interval_secs": self.rule.expected_interval_secs,
                 "shouwang.fault.last_seen": format_ts(source.last_seen)}
        self._findings.inc()
        finding = build_finding(self.rule, self.fields_of(last), key, evidence,
                                created=self._created(), extra=extra)
        return finish_fault(finding, self.rule, self.fault_type, last, self.category)


RULE_TYPE = RuleType("silence", SilenceRule, SilenceDetector,
                     "dead-man's switch: a source, agent or host stops sending events")
