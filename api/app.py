"""The HTTP API, built by `create_app` from its settings and injected collaborators.

Nothing here is global: the store, the metrics registry, the readiness checks, the pipeline's
ingest function and the audit hook are passed in by the composition root (cli/app.py), so
tests build the same app against fakes or a real sqlite store.

Routes: /healthz, /readyz, /metrics (routes_ops), GET /api/v1/events (routes_events),
POST /api/v1/ingest (routes_ingest), /openapi.json and /docs (routes_docs).
Who may call what: api/auth.py and the table in api/roles.py. Error bodies: api/errors.py.
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api.audit import AuditHook, AuditMiddleware
from api.auth import Authenticator, Gatekeeper
from api.errors import OrjsonResponse, install_error_handlers
from api.metrics import ApiMetrics, RequestMetricsMiddleware
from api.readiness import Readiness
from api.routes_docs import docs_router
from api.routes_events import events_router
from api.routes_ingest import ingest_router
from api.routes_ops import ops_router
from api.settings import ApiSettings
from storage.base import Store

def _openapi_without_422(app: FastAPI) -> Callable[[], dict]:
    """FastAPI documents 422 for every route with parameters; we answer 400 (api/errors.py)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


API_TITLE = "Shouwang (守望) API"
API_VERSION = "1"


def create_app(settings: ApiSettings, *, store: Store, registry: CollectorRegistry,
               readiness: Readiness | None = None,
               ingest: Callable[[list[dict]], Awaitable[None]] | None = None,
               audit: AuditHook | None = None,
               clock: Callable[[], float] = time.time,
               alerting=None) -> FastAPI:
    """Build the API app.

    - `readiness`: extra checks for /readyz (see api/readiness.py; `pipeline_readiness`).
    - `ingest`: awaited with each batch of accepted ingest events; should block while the
      pipeline is full and return once the events are queued. None disables ingest (503).
    - `audit`: called with one record per change-making request (api/audit.py).
    - `alerting`: the AlertingService; adds the routes of api/alerts_routes.py.
    Raises ConfigError when a token secret cannot be read or is unusable.
    """
    authenticator = Authenticator(settings)
    metrics = ApiMetrics(registry)
    gate = Gatekeeper(authenticator, metrics, trusted_loopback=settings.trusted_loopback)

    app = FastAPI(title=API_TITLE, version=API_VERSION, openapi_url=None, docs_url=None,
                  redoc_url=None, default_response_class=OrjsonResponse,
                  description="Events, ingest and health of a Shouwang monitor. "
                              "Authenticate with `Authorization: Bearer <token>`.")
    install_error_handlers(app)
    app.include_router(ops_router(gate, store=store, registry=registry, readiness=readiness,
                                  readiness_timeout_secs=settings.readiness_timeout_secs))
    app.include_router(events_router(gate, store=store))
    app.include_router(ingest_router(gate, settings=settings, ingest=ingest, metrics=metrics,
                                     clock=clock))
    if alerting is not None:
        from api.alerts_routes import alerts_router
        app.include_router(alerts_router(gate, alerting=alerting))
    app.include_router(docs_router(gate, app))
    # The last added middleware runs first: metrics see every answer, audit included.
    app.add_middleware(AuditMiddleware, hook=audit, metrics=metrics, clock=clock)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.openapi = _openapi_without_422(app)
    app.state.settings = settings
    app.state.api_metrics = metrics
    # Routes added later (admin endpoints) guard themselves with the same gatekeeper.
    app.state.gatekeeper = gate
    return app
