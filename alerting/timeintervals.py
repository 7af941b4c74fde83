"""Time intervals (Alertmanager's `time_intervals`): weekdays and times of day in a time zone.

An interval spec is active at an instant when every field it sets matches the local time in
its `location`; a named interval is a list of specs and is active when any spec is. Times are
[start, end) in minutes of the local day, so 02:00-04:00 covers 02:00:00 up to 03:59:59.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerting.settings import WEEKDAYS, TimeIntervalSpec, minutes_of_day


@dataclass(frozen=True)
class Interval:
    weekdays: frozenset[int]                 # 0 = Monday; empty = any day
    times: tuple[tuple[int, int], ...]       # minutes of day [start, end); empty = all day
    zone: ZoneInfo

    @classmethod
    def from_spec(cls, spec: TimeIntervalSpec) -> "Interval":
        days: set[int] = set()
        for value in spec.weekdays:
            first, _, last = value.lower().partition(":")
            start = WEEKDAYS.index(first)
            end = WEEKDAYS.index(last or first)
            day = start
            while True:
                days.add(day)
                if day == end:
                    break
                day = (day + 1) % 7
        times = tuple((minutes_of_day(r.start_time), minutes_of_day(r.end_time))
                      for r in spec.times)
        return cls(frozenset(days), times, ZoneInfo(spec.location))

    def contains(self, epoch_secs: float) -> bool:
        local = datetime.fromtimestamp(epoch_secs, self.zone)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        if not self.times:
            return True
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.times)


class IntervalSet:
    """Named intervals; `active(name, now)`."""

    def __init__(self, specs: dict[str, list[TimeIntervalSpec]]):
        self._intervals = {name: [Interval.from_spec(spec) for spec in items]
                           for name, items in specs.items()}

    def active(self, name: str, now: float) -> bool:
        return any(interval.contains(now) for interval in self._intervals.get(name, ()))


def schedule_active(specs: list[TimeIntervalSpec], now: float) -> bool:
    return any(Interval.from_spec(spec).contains(now) for spec in specs)
