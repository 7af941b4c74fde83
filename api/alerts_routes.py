"""Alert routes: list/acknowledge/resolve alerts, silences and maintenance windows, who is on
call, and the Alertmanager webhook intake.

    GET    /api/v1/alerts                       alerts:read    ?state= &severity= &matcher= &limit=
    GET    /api/v1/alerts/{fingerprint}         alerts:read
    POST   /api/v1/alerts/{fingerprint}/acknowledge   alerts:manage
    POST   /api/v1/alerts/{fingerprint}/resolve       alerts:manage
    GET    /api/v1/silences                     alerts:read    (silences and maintenance windows)
    POST   /api/v1/silences                     alerts:manage  {matchers, starts_at, ends_at, comment}
    DELETE /api/v1/silences/{id}                alerts:manage  expires it now
    POST   /api/v1/maintenance_windows          alerts:manage  {matchers, schedule, starts_at, ends_at, comment}
    GET    /api/v1/oncall/{schedule}            alerts:read
    POST   /api/v1/alertmanager                 events:ingest (or trusted loopback): webhook v4

alerts:read is every human role; alerts:manage is security_admin and system_admin
(api/roles.py). Changes are audited by the app's audit middleware; `created_by` and
`acknowledged_by` are the caller's token id. Times are RFC 3339 (epoch seconds accepted).
"""
from __future__ import annotations

from typing import Any

import re2
from fastapi import APIRouter, Depends, Query as QueryParam, Request
from pydantic import BaseModel, ConfigDict, Field

from alerting.am_intake import parse_webhook
from alerting.matchers import parse_matcher
from alerting.model import Alert, AlertState, Severity
from alerting.settings import TimeIntervalSpec
from alerting.silences import Silence
from api.errors import ApiError, bad_parameter
from api.roles import Permission
from core.events import format_ts, parse_ts

MAX_LIMIT = 10_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckBody(_Body):
    comment: str = Field("", max_length=2000)


class SilenceBody(_Body):
    matchers: list[str] = Field(min_length=1, max_length=32)
    starts_at: str | float | None = None
    ends_at: str | float
    comment: str = Field("", max_length=2000)


class MaintenanceBody(_Body):
    matchers: list[str] = Field(min_length=1, max_length=32)
    schedule: list[TimeIntervalSpec] = Field(min_length=1, max_length=32)
    starts_at: str | float | None = None
    ends_at: str | float | None = None
    comment: str = Field("", max_length=2000)


def _time(name: str, value: str | float | None) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_ts(value)
    except ValueError:
        raise ApiError(400, f"{name}: {value[:40]!r} is not an RFC 3339 time",
                       {"field": name}) from None


def _ts(value: float | None) -> str | None:
    return format_ts(value) if value is not None else None


def alert_json(alert: Alert) -> dict[str, Any]:
    return {"fingerprint": alert.fingerprint, "state": alert.state.value,
            "severity": alert.severity, "labels": alert.labels,
            "annotations": alert.annotations, "starts_at": _ts(alert.starts_at),
            "ends_at": _ts(alert.ends_at), "updated_at": _ts(alert.updated_at),
            "occurrences": alert.occurrences, "finding_ids": alert.finding_ids,
            "acknowledged_by": alert.acknowledged_by,
            "acknowledged_at": _ts(alert.acknowledged_at),
            "silenced_by": alert.silenced_by, "inhibited_by": alert.inhibited_by,
            "symptom_of": alert.symptom_of, "symptoms": alert.symptoms,
            "generator_url": alert.generator_url}


def silence_json(silence: Silence, now: float) -> dict[str, Any]:
    data = silence.to_dict()
    data.update(starts_at=_ts(silence.starts_at), ends_at=_ts(silence.ends_at),
                created_at=_ts(silence.created_at), status=silence.status(now))
    return data


def alerts_router(gate, *, alerting) -> APIRouter:
    """`alerting` is the running alerting.service.AlertingService."""
    router = APIRouter(prefix="/api/v1", tags=["alerts"])
    read = [Depends(gate.require(Permission.ALERTS_READ))]
    manage = [Depends(gate.require(Permission.ALERTS_MANAGE))]

    def found(fingerprint: str) -> Alert:
        alert = alerting.get(fingerprint)
        if alert is None:
            raise ApiError(404, f"no alert with fingerprint {fingerprint!r}")
        return alert

    def caller(request: Request) -> str:
        principal = getattr(request.state, "principal", None)
        return principal.name if principal is not None else "unknown"

    @router.get("/alerts", summary="List alerts", dependencies=read)
    async def list_alerts(
        state: list[str] = QueryParam([], description="firing, acknowledged, silenced, "
                                      "inhibited, resolved; repeatable"),
        severity: list[str] = QueryParam([], description="critical, high, medium, low"),
        matcher: list[str] = QueryParam([], description='label matcher, e.g. host=~"web.*"'),
        limit: int = QueryParam(1000, ge=1, le=MAX_LIMIT),
    ):
        states = {s.value for s in AlertState}
        for value in state:
            if value not in states:
                raise bad_parameter("state", f"{value!r} is not one of {sorted(states)}")
        for value in severity:
            if value not in {s.value for s in Severity}:
                raise bad_parameter("severity", f"{value!r} is not critical/high/medium/low")
        try:
            matchers = tuple(parse_matcher(text) for text in matcher)
        except (ValueError, re2.error) as exc:
            raise bad_parameter("matcher", str(exc)) from None
        alerts = alerting.list_alerts(states=set(state) or None,
                                      severities=set(severity) or None,
                                      matchers=matchers, limit=limit)
        return {"alerts": [alert_json(a) for a in alerts], "count": len(alerts)}

    @router.get("/alerts/{fingerprint}", summary="One alert", dependencies=read)
    async def get_alert(fingerprint: str):
        return alert_json(found(fingerprint))

    @router.post("/alerts/{fingerprint}/acknowledge", summary="Acknowledge (stops escalation "
                 "and repeats)", dependencies=manage)
    async def acknowledge(fingerprint: str, request: Request, body: AckBody | None = None):
        alert = found(fingerprint)
        if alert.ends_at is not None:
            raise ApiError(409, "the alert is resolved; nothing to acknowledge")
        alert = alerting.acknowledge(fingerprint, caller(request))
        if body is not None and body.comment:
            alert.annotations = {**alert.annotations, "ack_comment": body.comment}
        return alert_json(alert)

    @router.post("/alerts/{fingerprint}/resolve", summary="Resolve by hand", dependencies=manage)
    async def resolve(fingerprint: str, request: Request):
        found(fingerprint)
        return alert_json(alerting.resolve(fingerprint, caller(request)))

    @router.get("/silences", summary="Silences and maintenance windows", dependencies=read)
    async def list_silences():
        now = alerting.clock()
        return {"silences": [silence_json(s, now) for s in alerting.silencer.all()]}

    def create(request: Request, body, schedule) -> dict:
        try:
            silence = alerting.add_silence(
                matchers=body.matchers, starts_at=_time("starts_at", body.starts_at),
                ends_at=_time("ends_at", body.ends_at), created_by=caller(request),
                comment=body.comment, schedule=schedule)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return silence_json(silence, alerting.clock())

    @router.post("/silences", summary="Create a silence", status_code=201, dependencies=manage)
    async def create_silence(body: SilenceBody, request: Request):
        return create(request, body, None)

    @router.post("/maintenance_windows", summary="Create a recurring maintenance window",
                 status_code=201, dependencies=manage)
    async def create_window(body: MaintenanceBody, request: Request):
        return create(request, body, body.schedule)

    @router.delete("/silences/{silence_id}", summary="Expire a silence or window",
                   dependencies=manage)
    async def expire(silence_id: str):
        silence = alerting.silencer.get(silence_id)
        if silence is None:
            raise ApiError(404, f"no silence {silence_id!r}")
        if silence.source == "config":
            raise ApiError(409, "configured maintenance windows change in the configuration")
        return silence_json(alerting.expire_silence(silence_id), alerting.clock())

    @router.get("/oncall/{schedule}", summary="Who is on call now", dependencies=read)
    async def on_call(schedule: str):
        answer = alerting.on_call(schedule)
        if answer is None:
            raise ApiError(404, f"no on-call schedule {schedule!r}")
        answer["until"] = _ts(answer["until"])
        return answer

    @router.post("/alertmanager", summary="Alertmanager webhook (payload version 4)",
                 dependencies=[Depends(gate.require(Permission.INGEST, loopback_trusted=True))])
    async def alertmanager(request: Request):
        body = await request.body()
        incoming = parse_webhook(body)       # InputError -> 400 with the reason
        alerts = alerting.handle_incoming(incoming)
        return {"accepted": len(alerts), "fingerprints": [a.fingerprint for a in alerts]}

    return router
