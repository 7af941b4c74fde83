"""Who is on call now: weekly rotations with a handover weekday, time and time zone.

The first member's week starts on `start_date` at `handover_time` local time; every week at
the same local weekday and time the next member takes over (wrapping around). Weeks are
counted in local wall-clock time, so the handover stays at 09:00 local across DST changes.
Before the first handover the first member is on call.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerting.settings import OncallMember, OncallSchedule, minutes_of_day

WEEK = timedelta(days=7)


class Rotation:
    def __init__(self, name: str, schedule: OncallSchedule):
        self.name = name
        self.members = list(schedule.rotation)
        self.zone = ZoneInfo(schedule.timezone)
        minutes = minutes_of_day(schedule.handover_time)
        self.first_handover = datetime(schedule.start_date.year, schedule.start_date.month,
                                       schedule.start_date.day, minutes // 60, minutes % 60)

    def on_call(self, now: float) -> OncallMember:
        local = datetime.fromtimestamp(now, self.zone).replace(tzinfo=None)
        if local < self.first_handover:
            return self.members[0]
        weeks = (local - self.first_handover) // WEEK
        return self.members[weeks % len(self.members)]

    def next_handover(self, now: float) -> float:
        """Epoch seconds of the next handover after `now`."""
        local = datetime.fromtimestamp(now, self.zone).replace(tzinfo=None)
        weeks = max(0, (local - self.first_handover) // WEEK + 1)
        if local < self.first_handover:
            weeks = 0
        return (self.first_handover + weeks * WEEK).replace(tzinfo=self.zone).timestamp()
