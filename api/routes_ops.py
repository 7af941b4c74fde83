"""Operational endpoints: /healthz (liveness), /readyz (readiness), /metrics (Prometheus).

- /healthz answers 200 {"status": "ok"} whenever the process serves; once tokens are configured
  anyone may ask, before that only loopback clients.
- /readyz answers 200 when every check passes and 503 otherwise; the body lists each check.
- /metrics exposes the injected registry: Prometheus text by default, OpenMetrics when the
  Accept header asks for application/openmetrics-text.
- /readyz and /metrics need `monitor:read`, or a loopback client when loopback is trusted.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response

from api.auth import Gatekeeper
from api.errors import OrjsonResponse
from api.roles import Permission
from api.readiness import Readiness, run_checks
from api.schemas import ErrorBody, Health, Readiness as ReadinessBody
from storage.base import Store


def ops_router(gate: Gatekeeper, *, store: Store, registry: CollectorRegistry,
               readiness: Readiness | None, readiness_timeout_secs: float) -> APIRouter:
    router = APIRouter(tags=["operations"])
    monitor = gate.require(Permission.MONITOR_READ, loopback_trusted=True)

    @router.get("/healthz", summary="Liveness: 200 while the process serves",
                responses={200: {"model": Health}, 401: {"model": ErrorBody}},
                dependencies=[Depends(gate.liveness())])
    async def healthz() -> OrjsonResponse:
        return OrjsonResponse({"status": "ok"})

    @router.get("/readyz", summary="Readiness: 200 when the store and every source are up",
                responses={200: {"model": ReadinessBody},
                           503: {"model": ReadinessBody,
                                 "description": "not ready; the body says which check failed"},
                           401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
                dependencies=[Depends(monitor)])
    async def readyz() -> OrjsonResponse:
        ready, checks = await run_checks(store, readiness, readiness_timeout_secs)
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return OrjsonResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics (text, or OpenMetrics via Accept)",
                response_class=Response, dependencies=[Depends(monitor)])
    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        # Collecting walks every metric; keep it off the event loop.
        payload = await run_in_threadpool(encoder, registry)
        return Response(payload, media_type=None, headers={"Content-Type": content_type})

    return router
