"""The API's own metrics, on the application's registry (never the global one), and the ASGI
middleware that fills the request ones.

- ``shouwang_api_requests_total{route,method,status}``
- ``shouwang_api_request_duration_seconds{route,method}`` (histogram)
- ``shouwang_api_auth_failures_total{reason}``
- ``shouwang_api_audit_failures_total`` (the audit hook raised)
- ``shouwang_api_ingested_events_total{outcome}`` (accepted | rejected)

`route` is the route template ("/api/v1/events"), or "<unmatched>" for paths no route serves,
so a scanner probing random paths cannot blow up the label cardinality.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
UNMATCHED_ROUTE = "<unmatched>"


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            "shouwang_api_requests", "HTTP requests answered, by route and status",
            ["route", "method", "status"], registry=registry)
        self.latency = Histogram(
            "shouwang_api_request_duration_seconds", "Time to answer an HTTP request",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry)
        self.auth_failures = Counter(
            "shouwang_api_auth_failures", "Requests refused by authentication or "
            "authorization, by reason", ["reason"], registry=registry)
        self.audit_failures = Counter(
            "shouwang_api_audit_failures", "Change-making requests the audit hook failed "
            "to record", registry=registry)
        self.ingested = Counter(
            "shouwang_api_ingested_events", "Events received on /api/v1/ingest, by outcome",
            ["outcome"], registry=registry)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE


class StatusNote:
    """Wraps an ASGI `send` to note the response status; 500 until the app answers, which is
    what a client sees when the app dies first."""

    def __init__(self, send: Send):
        self.status = 500
        self._send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        note = StatusNote(send)
        try:
            await self.app(scope, receive, note)
        finally:
            route = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(note.status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)
