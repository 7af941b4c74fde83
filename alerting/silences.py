"""Silences and maintenance windows: matcher-based mutes of notifications.

A silence mutes alerts matching all its matchers between `starts_at` and `ends_at`. A
maintenance window is a silence with a weekly `schedule` (time intervals with a time zone): it
mutes only while the schedule is active, from `starts_at` until `ends_at` (None = for ever).
Expiring sets `ends_at` to now; expired silences stay listed (who silenced what, and when).
Muting affects notifications and escalation only: muted alerts stay visible in the API with
state "silenced" and their silence ids.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from alerting.matchers import Matcher, parse_matchers
from alerting.settings import TimeIntervalSpec
from alerting.timeintervals import Interval


@dataclass
class Silence:
    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float | None
    created_by: str
    comment: str = ""
    created_at: float = 0.0
    schedule: list[dict] = field(default_factory=list)    # TimeIntervalSpec dicts
    source: str = "api"                                   # "api" or "config"
    _compiled: tuple[Matcher, ...] = field(default=(), repr=False, compare=False)
    _intervals: tuple[Interval, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        self._compiled = parse_matchers(self.matchers)
        self._intervals = tuple(Interval.from_spec(TimeIntervalSpec.model_validate(spec))
                                for spec in self.schedule)

    @property
    def kind(self) -> str:
        return "maintenance_window" if self.schedule else "silence"

    def status(self, now: float) -> str:
        """pending, active (muting now), waiting (window closed now), expired."""
        if self.ends_at is not None and now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        if self._intervals and not any(i.contains(now) for i in self._intervals):
            return "waiting"
        return "active"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return (self.status(now) == "active"
                and all(matcher.matches(labels) for matcher in self._compiled))

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "matchers": list(self.matchers),
                "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_by": self.created_by, "comment": self.comment,
                "created_at": self.created_at, "schedule": list(self.schedule),
                "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> "Silence":
        return cls(id=data["id"], matchers=list(data["matchers"]), starts_at=data["starts_at"],
                   ends_at=data["ends_at"], created_by=data["created_by"],
                   comment=data.get("comment", ""), created_at=data.get("created_at", 0.0),
                   schedule=list(data.get("schedule", [])), source=data.get("source", "api"))


def new_silence_id(seed: str) -> str:
    return hashlib.sha256(seed.encode() + os.urandom(8)).hexdigest()[:20]


class Silencer:
    """The current silences; `muted_by(labels, now)` lists the ids of those muting now."""

    def __init__(self, silences: Iterable[Silence] = ()):
        self._silences: dict[str, Silence] = {s.id: s for s in silences}

    def add(self, silence: Silence) -> None:
        self._silences[silence.id] = silence

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: (s.starts_at, s.id))

    def muted_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in self._silences.values() if s.mutes(labels, now)]
