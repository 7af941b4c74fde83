"""`ratio` rules: the share of a key's events that meet a further condition, within a window
(a web scanner: most of its requests answered 404, over many different paths).

    match: {...}                     # the events counted (the denominator)
    hits: {http.response.status_code: 404}
    min_events: 20                   # at least this many events in the window
    min_ratio: 0.5                   # and at least this share of them are hits
    distinct_field: url.path         # optional: the hits name at least
    min_distinct: 10                 # this many different values

A share needs a denominator, which a plain count lacks: a scanner that also fetches real pages
keeps a high 404 share; a busy user with a few dead links does not. `min_distinct` keeps one
client polling one missing URL from looking like enumeration.

State per key: a flat tuple of the newest `max_events` entries (time, hit, value, event id)
inside the window, so memory is bounded by the rule; beyond that many events per window, the
share is over the newest ones. Flat: nested tuples stay tracked by the garbage collector
(detectors/state.py).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from detectors.base import WindowDetector
from detectors.conditions import FieldTest, compile_conditions
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType
from detectors.state import slide

STRIDE = 4   # time, hit, value, event id


class RatioRule(RuleBase):
    type: Literal["ratio"]
    hits: dict[str, FieldTest] = Field(min_length=1, description="conditions of a hit")
    min_events: int = Field(ge=2, le=10_000)
    min_ratio: float = Field(gt=0, le=1)
    max_events: int = Field(1_000, ge=2, le=100_000, description="newest events kept per key")
    distinct_field: str | None = None
    min_distinct: int = Field(1, ge=1, le=10_000)

    @model_validator(mode="after")
    def _bounds(self):
        if self.max_events < self.min_events:
            raise ValueError("max_events must be at least min_events")
        return self


class RatioDetector(WindowDetector):
    def __init__(self, rule: RatioRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.is_hit = compile_conditions(rule.hits, {})
        self.min_events = rule.min_events
        self.min_ratio = rule.min_ratio
        self.max_events = rule.max_events
        self.distinct_field = rule.distinct_field
        self.min_distinct = rule.min_distinct

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        value = event.get(self.distinct_field) if self.distinct_field else None
        return key, (self.is_hit(event), value)

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        hit, value = info
        entries = slide(self.state.fetch(key) or (), (ts, hit, value, event.get("event.id")),
                        self.max_events, ts - self.window_secs)
        self.state.put(key, entries)
        total = len(entries) // STRIDE
        if total < self.min_events:
            return None
        hit_at = [at for at in range(0, len(entries), STRIDE) if entries[at + 1]]
        hits = len(hit_at)
        if hits < self.min_ratio * total:
            return None
        values = list(dict.fromkeys(entries[at + 2] for at in hit_at))
        if self.distinct_field and len(values) < self.min_distinct:
            return None
        if self.quiet(key, ts):
            return None
        self.state.put(key, ())
        ratio = hits / total
        evidence = Evidence(total, entries[0], ts, [entries[at + 3] for at in hit_at], event)
        extra = {"shouwang.ratio.hits": hits, "shouwang.ratio.events": total,
                 "shouwang.ratio.value": round(ratio, 3), "hits": hits,
                 "percent": round(100 * ratio)}
        if self.distinct_field:
            extra["shouwang.evidence.distinct_field"] = self.distinct_field
            extra["shouwang.evidence.distinct_values"] = [str(v) for v in values[:20]]
            extra["distinct"] = len(values)
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("ratio", RatioRule, RatioDetector,
                     "share of a key's events meeting a condition within a window")
