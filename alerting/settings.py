"""The `alerting:` configuration block: strict models, validated where they are written.

    alerting:
      route: {receiver, matchers, group_by, group_wait_secs, group_interval_secs,
              repeat_interval_secs, continue, routes: [...], mute_time_intervals,
              active_time_intervals, escalation_policy}
      receivers: {name: {type: webhook, ...settings of that type}}
      inhibit_rules: [{source_matchers, target_matchers, equal}]
      time_intervals: {name: [{weekdays, times, location}]}
      maintenance_windows: {id: {matchers, time_intervals | schedule, comment}}
      escalation_policies: {name: {levels: [{after_secs, receivers, oncall}]}}
      oncall_schedules: {name: {timezone, handover_weekday, handover_time, start_date, rotation}}
      delivery: {timeout_secs, max_attempts, backoff_initial_secs, backoff_max_secs}

Field names follow the project (units in names: `group_wait_secs`); matchers use Alertmanager's
syntax and are compiled while validating, so a bad regex is an error at its own line.
References between sections (a route naming an unknown receiver) are checked by
alerting/config.py, which also locates them.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.settings import StrictModel
from alerting.matchers import parse_matcher

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

# Alertmanager's defaults.
DEFAULT_GROUP_WAIT_SECS = 30.0
DEFAULT_GROUP_INTERVAL_SECS = 300.0
DEFAULT_REPEAT_INTERVAL_SECS = 4 * 3600.0


def _check_matchers(values: list[str]) -> list[str]:
    for text in values:
        parse_matcher(text)   # raises ValueError with the reason; pydantic locates it
    return values


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name like Asia/Shanghai)") from None
    return name


def minutes_of_day(text: str) -> int:
    found = _HHMM.match(text)
    if not found or (found.group(1) == "24" and found.group(2) != "00"):
        raise ValueError(f"{text!r} is not a time HH:MM (00:00-24:00)")
    return int(found.group(1)) * 60 + int(found.group(2))


class TimeRange(StrictModel):
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _order(self):
        if minutes_of_day(self.start_time) >= minutes_of_day(self.end_time):
            raise ValueError("start_time must be before end_time (split a range over midnight "
                             "into two)")
        return self


class TimeIntervalSpec(StrictModel):
    """Alertmanager's time_interval: every given field must match (missing = any)."""

    weekdays: list[str] = Field(default_factory=list, description="monday, or monday:friday")
    times: list[TimeRange] = Field(default_factory=list)
    location: str = Field("UTC", description="IANA time zone the weekdays and times are in")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, values: list[str]) -> list[str]:
        for value in values:
            for part in value.lower().split(":"):
                if part not in WEEKDAYS:
                    raise ValueError(f"{value!r}: weekdays are {', '.join(WEEKDAYS)} or ranges "
                                     "like monday:friday")
        return values

    _location = field_validator("location")(classmethod(lambda cls, v: check_timezone(v)))


class RouteSettings(StrictModel):
    """A node of the routing tree; unset fields are inherited from the parent."""

    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    group_by: list[str] | None = Field(None, description="labels to group by; ['...'] = all")
    group_wait_secs: float | None = Field(None, ge=0)
    group_interval_secs: float | None = Field(None, gt=0)
    repeat_interval_secs: float | None = Field(None, gt=0)
    continue_: bool = Field(False, alias="continue")
    routes: list["RouteSettings"] = Field(default_factory=list)
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    escalation_policy: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _matchers = field_validator("matchers")(classmethod(lambda cls, v: _check_matchers(v)))


class ReceiverSettings(BaseModel):
    """`type:` plus that type's settings; the receiver catalog validates the rest when it
    builds the receiver (alerting/receivers/catalog.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


class InhibitRule(StrictModel):
    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)
    name: str = ""

    _source = field_validator("source_matchers")(classmethod(lambda c, v: _check_matchers(v)))
    _target = field_validator("target_matchers")(classmethod(lambda c, v: _check_matchers(v)))


class MaintenanceWindowSettings(StrictModel):
    """A recurring silence: alerts matching `matchers` are muted while `schedule` is active."""

    matchers: list[str] = Field(min_length=1)
    schedule: list[TimeIntervalSpec] = Field(min_length=1)
    comment: str = ""

    _matchers = field_validator("matchers")(classmethod(lambda cls, v: _check_matchers(v)))


class EscalationLevel(StrictModel):
    after_secs: float = Field(gt=0, description="seconds after the first notification")
    receivers: list[str] = Field(default_factory=list)
    oncall: list[str] = Field(default_factory=list, description="schedules: whoever is on "
                              "call then is notified")

    @model_validator(mode="after")
    def _someone(self):
        if not self.receivers and not self.oncall:
            raise ValueError("a level needs receivers or oncall schedules")
        return self


class EscalationPolicy(StrictModel):
    levels: list[EscalationLevel] = Field(min_length=1)

    @field_validator("levels")
    @classmethod
    def _increasing(cls, levels: list[EscalationLevel]) -> list[EscalationLevel]:
        times = [level.after_secs for level in levels]
        if times != sorted(set(times)) or len(set(times)) != len(times):
            raise ValueError("after_secs must increase from one level to the next")
        return levels


class OncallMember(StrictModel):
    name: str
    receiver: str


class OncallSchedule(StrictModel):
    """Weekly rotation: member i is on call in week i (mod len) from the first handover."""

    timezone: str = "Asia/Shanghai"
    handover_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday",
                              "saturday", "sunday"] = "monday"
    handover_time: str = "09:00"
    start_date: dt.date = Field(description="a date on handover_weekday: the first member's "
                                "week starts then at handover_time")
    rotation: list[OncallMember] = Field(min_length=1)

    _tz = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))

    @field_validator("handover_time")
    @classmethod
    def _time(cls, value: str) -> str:
        if minutes_of_day(value) >= 24 * 60:
            raise ValueError("handover_time must be before 24:00")
        return value

    @model_validator(mode="after")
    def _weekday(self):
        if WEEKDAYS[self.start_date.weekday()] != self.handover_weekday:
            raise ValueError(f"start_date {self.start_date} is a "
                             f"{WEEKDAYS[self.start_date.weekday()]}, not a {self.handover_weekday}")
        return self


class DeliverySettings(StrictModel):
    timeout_secs: float = Field(10.0, gt=0, le=300, description="one send attempt")
    max_attempts: int = Field(10, ge=1, description="then the notification is given up "
                              "(counted, logged, kept in the outbox as failed)")
    backoff_initial_secs: float = Field(1.0, gt=0)
    backoff_max_secs: float = Field(300.0, gt=0)


class AlertingSettings(StrictModel):
    route: RouteSettings
    receivers: dict[str, ReceiverSettings] = Field(min_length=1)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: dict[str, list[TimeIntervalSpec]] = Field(default_factory=dict)
    maintenance_windows: dict[str, MaintenanceWindowSettings] = Field(default_factory=dict)
    escalation_policies: dict[str, EscalationPolicy] = Field(default_factory=dict)
    oncall_schedules: dict[str, OncallSchedule] = Field(default_factory=dict)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    resolve_after_secs: float = Field(300.0, gt=0, description="a finding not seen again for "
                                      "this long resolves (unless it says "
                                      "shouwang.resolve_after_secs)")
    topology_inhibition: bool = Field(True, description="findings with shouwang.symptom_of "
                                      "fold into their root cause's incident")
    state_path: Path = Field(Path("alerting"), description="directory of the alert state "
                             "database; relative to node.data_dir")
    external_url: str = ""
    tick_secs: float = Field(0.2, gt=0, le=10, description="timer resolution of grouping, "
                             "resolving and escalation")
    max_finding_ids: int = Field(10, ge=1, le=1000, description="latest finding ids kept per "
                                 "alert")

    @field_validator("route")
    @classmethod
    def _root(cls, route: RouteSettings) -> RouteSettings:
        if route.receiver is None:
            raise ValueError("the root route needs a receiver (the default)")
        if route.matchers:
            raise ValueError("the root route matches every alert; it takes no matchers")
        return route
