"""The API's error shape and the handlers that give every failure that shape.

Every error body is ``{"error": "<one line for a person>", "detail": <data or null>}``.
Malformed query parameters are 400 (not FastAPI's 422) and name the parameter in
``detail.parameter``. Unexpected exceptions become 500 without internals in the body.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from core.errors import InputError, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (FastAPI's ORJSONResponse is deprecated)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiError(Exception):
    """An error answered as JSON with `status`; `headers` go on the response."""

    def __init__(self, status: int, error: str, detail: Any = None, *,
                 headers: dict[str, str] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def bad_parameter(parameter: str, reason: str) -> ApiError:
    return ApiError(400, f"invalid query parameter {parameter!r}: {reason}",
                    {"parameter": parameter, "reason": reason})


def error_response(status: int, error: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> OrjsonResponse:
    return OrjsonResponse({"error": error, "detail": detail}, status_code=status,
                          headers=headers)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return error_response(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ())]
    where = loc[0] if loc else "request"
    name = loc[-1] if len(loc) > 1 else where
    reason = first.get("msg", "invalid value")
    if where == "query":
        return error_response(400, f"invalid query parameter {name!r}: {reason}",
                              {"parameter": name, "reason": reason})
    return error_response(400, f"invalid request {where} {name!r}: {reason}",
                          {where: name, "reason": reason})


async def _store_error(request: Request, exc: StoreError) -> Response:
    if isinstance(exc, StoreUnavailable):
        return error_response(503, "the event store is unavailable", str(exc),
                              {"Retry-After": "5"})
    log.error("store error on %s: %s", request.url.path, exc)
    return error_response(502, "the event store failed", str(exc))


async def _input_error(request: Request, exc: InputError) -> Response:
    return error_response(400, str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(Exception, _unexpected)
