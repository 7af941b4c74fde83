"""Intake of Alertmanager webhooks (payload version 4), so alerts of an existing Prometheus
join our lifecycle, routing and escalation.

Contract:
- `parse_webhook(body)` validates the payload and returns the alerts to observe; anything
  malformed raises InputError with a reason a person can act on (the API answers 400).
  Unknown extra fields (notification_reason of AM >= 0.34, truncatedAlerts) are accepted.
- Labels are kept as sent, plus `severity` normalized to our four classes (the original value
  stays in the annotation `original_severity`), so dedup follows Alertmanager's fingerprint
  of the same labels.
- `endsAt` "0001-01-01T00:00:00Z" (Go's zero time) means "still firing": the alert then
  resolves after the configured resolve interval unless Alertmanager sends it again. A
  "resolved" alert resolves at its endsAt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerting.labels import normalize_severity
from core.errors import InputError
from core.events import parse_ts

MAX_ALERTS = 10_000
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("labels")
    @classmethod
    def _alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        import re
        for name in labels:
            if not re.match(LABEL_NAME, name):
                raise ValueError(f"label name {name!r} is not valid")
        if not labels.get("alertname"):
            raise ValueError("labels.alertname is required")
        return labels


class _AmWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    status: str = Field(pattern="^(firing|resolved)$")
    receiver: str = ""
    groupKey: str = ""
    alerts: list[_AmAlert] = Field(max_length=MAX_ALERTS)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""

    @field_validator("version")
    @classmethod
    def _v4(cls, version: str) -> str:
        if version != "4":
            raise ValueError(f"payload version {version!r} is not supported (expected \"4\")")
        return version


@dataclass
class IncomingAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None       # None: firing with no end announced
    generator_url: str


def _time(text: str, where: str) -> float | None:
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        value = parse_ts(text)
    except ValueError:
        raise InputError(f"{where}: {text[:40]!r} is not an RFC 3339 time") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {text[:40]!r} is out of range")
    return value


def parse_webhook(body: bytes) -> list[IncomingAlert]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object (an Alertmanager webhook payload)")
    try:
        payload = _AmWebhook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise InputError(f"{where}: {first['msg']}") from None
    alerts = []
    for index, item in enumerate(payload.alerts):
        starts = _time(item.startsAt, f"alerts.{index}.startsAt")
        if starts is None:
            raise InputError(f"alerts.{index}.startsAt: a start time is required")
        ends = _time(item.endsAt, f"alerts.{index}.endsAt")
        if item.status == "resolved" and ends is None:
            raise InputError(f"alerts.{index}.endsAt: a resolved alert needs its end time")
        if item.status == "firing" and ends is not None and ends <= starts:
            ends = None   # Prometheus' provisional endsAt can lag; firing wins
        labels = dict(item.labels)
        annotations = dict(item.annotations)
        if "severity" in labels:
            annotations.setdefault("original_severity", labels["severity"])
        labels["severity"] = normalize_severity(labels.get("severity"))
        alerts.append(IncomingAlert(labels, annotations, starts,
                                    ends if item.status == "resolved" else ends,
                                    item.generatorURL))
    return alerts
