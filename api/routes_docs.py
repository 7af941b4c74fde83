"""The API description: /openapi.json and /docs (Swagger UI), guarded like /metrics.

FastAPI's built-in doc routes cannot take a guard, so they are switched off and served here.
Swagger UI loads its scripts from a CDN; on a network without one, /openapi.json still works.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from api.auth import Gatekeeper
from api.errors import OrjsonResponse
from api.roles import Permission

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"


def docs_router(gate: Gatekeeper, app: FastAPI) -> APIRouter:
    router = APIRouter(tags=["description"])
    guard = [Depends(gate.require(Permission.MONITOR_READ, loopback_trusted=True))]

    @router.get(OPENAPI_PATH, include_in_schema=False, dependencies=guard)
    async def openapi() -> OrjsonResponse:
        return OrjsonResponse(app.openapi())

    @router.get(DOCS_PATH, include_in_schema=False, dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=f"{app.title} - docs")

    return router
