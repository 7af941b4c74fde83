"""POST /api/v1/ingest: events from agents and other shippers, as NDJSON.

Contract (partial acceptance):
- The body is NDJSON (``Content-Type: application/x-ndjson``), uncompressed; at most
  `max_ingest_bytes` (else 413, checked on Content-Length and again while reading) and
  `max_ingest_events` non-blank lines (else 413). Nothing of a refused body is kept.
- Good lines are accepted, bad lines rejected with their line number and reason
  (api/ndjson.py). Answer 202 ``{"accepted", "rejected", "errors": [{"line", "error"}]}``
  only after the injected `ingest` callable returned, i.e. the pipeline holds the events
  (it blocks while the pipeline is full: that is the backpressure agents feel). At most
  MAX_REPORTED_ERRORS errors are listed; `rejected` counts them all.
- A body with no good line is 400 with the same counts in `detail`; senders should not retry
  a 4xx. 503 (with Retry-After) means nothing certain was taken: the pipeline did not accept
  in `ingest_timeout_secs`, failed, or ingest is not enabled; senders retry, so delivery is
  at least once and duplicates are possible.
- Ingest moves data and changes no configuration: the route is exempt from the audit hook.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from fastapi import APIRouter, Depends, Request

from api.audit import AUDIT_EXEMPT
from api.auth import Gatekeeper, Principal
from api.errors import ApiError, OrjsonResponse
from api.metrics import ApiMetrics
from api.ndjson import count_lines, parse_ndjson
from api.roles import Permission
from api.schemas import ERRORS, ErrorBody, IngestResult
from api.settings import ApiSettings
from core.events import format_ts

log = logging.getLogger(__name__)

Ingest = Callable[[list[dict]], Awaitable[None]]
MAX_REPORTED_ERRORS = 100
RETRY_AFTER_SECS = "5"

_OPENAPI_EXTRA = {
    AUDIT_EXEMPT: True,
    "requestBody": {
        "required": True,
        "description": "one JSON object per line; nested objects are flattened to dotted "
                       "ECS field names",
        "content": {"application/x-ndjson": {"schema": {"type": "string"},
                                             "example": '{"message": "hello", '
                                                        '"source": {"ip": "10.0.0.1"}}\n'}},
    },
}


async def read_limited(request: Request, max_bytes: int) -> bytes:
    too_large = ApiError(413, f"the body is larger than {max_bytes} bytes",
                         {"max_ingest_bytes": max_bytes})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:  # a sender may lie about, or omit, Content-Length
            raise too_large
    return bytes(body)


def ingest_router(gate: Gatekeeper, *, settings: ApiSettings, ingest: Ingest | None,
                  metrics: ApiMetrics, clock: Callable[[], float] = time.time) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ingest"])

    @router.post("/ingest", status_code=202, summary="Ship events (NDJSON)",
                 openapi_extra=_OPENAPI_EXTRA,
                 responses={**ERRORS, 202: {"model": IngestResult},
                            400: {"model": ErrorBody, "description": "no line was accepted"},
                            413: {"model": ErrorBody,
                                  "description": "body too large or too many events"},
                            415: {"model": ErrorBody,
                                  "description": "compressed bodies are not accepted"},
                            503: {"model": ErrorBody, "description": "not taken; retry later"}})
    async def ingest_events(
        request: Request,
        principal: Principal = Depends(gate.require(Permission.INGEST)),
    ) -> OrjsonResponse:
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ApiError(415, f"content-encoding {encoding!r} is not accepted; send "
                           "uncompressed NDJSON")
        body = await read_limited(request, settings.max_ingest_bytes)
        lines = count_lines(body)
        if lines > settings.max_ingest_events:
            raise ApiError(413, f"the body holds {lines} events; at most "
                           f"{settings.max_ingest_events} per request",
                           {"max_ingest_events": settings.max_ingest_events})
        if lines == 0:
            raise ApiError(400, "the body holds no events", {"accepted": 0, "rejected": 0,
                                                              "errors": []})
        parsed = parse_ndjson(body, now=format_ts(clock()), token_id=principal.token_id,
                              source_ip=principal.client_ip)
        counts = {
            "accepted": len(parsed.events),
            "rejected": len(parsed.errors),
            "errors": [error.as_dict() for error in parsed.errors[:MAX_REPORTED_ERRORS]],
        }
        metrics.ingested.labels("rejected").inc(len(parsed.errors))
        if not parsed.events:
            raise ApiError(400, "no line was accepted", counts)
        if ingest is None:
            raise ApiError(503, "ingest is not enabled on this server",
                           headers={"Retry-After": RETRY_AFTER_SECS})
        try:
            await asyncio.wait_for(ingest(parsed.events), settings.ingest_timeout_secs)
        except TimeoutError:
            raise ApiError(503, "the pipeline is full; retry later",
                           {"timeout_secs": settings.ingest_timeout_secs},
                           headers={"Retry-After": RETRY_AFTER_SECS}) from None
        except Exception:
            log.exception("ingest of %d events from %s failed", len(parsed.events),
                          principal.name)
            raise ApiError(503, "the pipeline did not take the events; retry later",
                           headers={"Retry-After": RETRY_AFTER_SECS}) from None
        metrics.ingested.labels("accepted").inc(len(parsed.events))
        return OrjsonResponse(counts, status_code=202)

    return router
