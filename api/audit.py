"""The audit hook: every change-making request is reported to the injected `audit` callable.

Contract:
- Requests with an unsafe method (POST, PUT, PATCH, DELETE) to a route that serves that
  method are audited once answered, whether allowed, refused or failed, unless their route opts out with
  ``openapi_extra={AUDIT_EXEMPT: True}`` (ingest does: it moves data, it changes nothing; the
  exemption is visible in /openapi.json so an auditor can see which routes are not audited).
- The record is a flat ECS-style dict: who (``user.id`` = token id or "loopback",
  ``user.roles``, ``source.ip``), what (``event.action`` = "METHOD route",
  ``url.path``, ``http.response.status_code``, ``event.outcome``), when (``@timestamp``),
  plus ``event.reason`` for a refusal. Never the token or the request body.
- A hook that raises is logged and counted (``shouwang_api_audit_failures_total``); the
  response has already been decided by then.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from api.metrics import ApiMetrics, StatusNote, route_template
from core.events import format_ts

log = logging.getLogger(__name__)

AuditHook = Callable[[dict], None]
AUDIT_EXEMPT = "x-shouwang-audit-exempt"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_audited(scope: Scope) -> bool:
    """True for a request a route accepted by method and did not exempt; requests for paths or
    methods no route serves (404, 405) change nothing and are left to the request metrics."""
    route = scope.get("route")
    methods = getattr(route, "methods", None) or ()
    if scope.get("method") not in methods:
        return False
    extra = getattr(route, "openapi_extra", None) or {}
    return not extra.get(AUDIT_EXEMPT)


def audit_record(scope: Scope, status: int, clock: Callable[[], float] = time.time) -> dict:
    state = scope.get("state") or {}
    principal = state.get("principal")
    client = scope.get("client")
    record = {
        "@timestamp": format_ts(clock()),
        "event.kind": "event",
        "event.category": ["web", "configuration"],
        "event.action": f"{scope.get('method', '')} {route_template(scope)}",
        "event.outcome": "success" if status < 400 else "failure",
        "url.path": scope.get("path", ""),
        "http.request.method": scope.get("method", ""),
        "http.response.status_code": status,
        "source.ip": client[0] if client else None,
        "user.id": principal.name if principal is not None else None,
        "user.roles": [principal.role.value] if principal is not None and principal.role
        else [],
    }
    if state.get("auth_failure"):
        record["event.reason"] = state["auth_failure"]
    return record


class AuditMiddleware:
    def __init__(self, app: ASGIApp, hook: AuditHook | None, metrics: ApiMetrics,
                 clock: Callable[[], float] = time.time):
        self.app = app
        self.hook = hook
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.hook is None or scope["type"] != "http"
                or scope.get("method") not in UNSAFE_METHODS):
            await self.app(scope, receive, send)
            return
        note = StatusNote(send)
        try:
            await self.app(scope, receive, note)
        finally:
            if is_audited(scope):
                try:
                    self.hook(audit_record(scope, note.status, self.clock))
                except Exception:
                    log.exception("audit hook failed for %s %s", scope.get("method"),
                                  scope.get("path"))
                    self.metrics.audit_failures.inc()
