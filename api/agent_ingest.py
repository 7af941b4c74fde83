"""POST /api/v1/agent/batches: sealed event batches from Shouwang agents.

Contract:
- Body: one channel message (crypto/channel.py: SM4-GCM under a session key transported with
  this server's SM2 key, SM2-signed by the agent, sequence number and timestamp) whose payload
  is zstd-compressed NDJSON (collectors/agent/codec.py). ``Content-Type:
  application/x-shouwang-batch``, else 415. The caller also needs a bearer token whose role
  may ingest (the `agent` role, api/roles.py).
- Rejections are 4xx, counted in ``shouwang_agent_batches_rejected_total{reason}`` and never
  partially applied: unknown_agent 403, replayed 409, tampered 400, expired 400,
  unknown_session 400, bad_payload 400, too_large 413, content_type 415. Agents keep such a
  batch spooled (a 4xx here means misconfiguration, not bad data).
- Accepted: the events (lines parsed as on /api/v1/ingest, api/ndjson.py; bad lines are
  counted, not fatal) get ``agent.id`` = the authenticated agent id, and the answer 200
  ``{"accepted", "rejected", "errors"}`` comes only after the `ingest` callable returned,
  i.e. after the events are stored (cli/monitor.py Monitor.ingest). 503 with Retry-After
  when they were not taken in ``api.ingest_timeout_secs``.
- ``shouwang_agent_last_seen_timestamp_seconds{agent}`` is set on every accepted batch, and
  ``shouwang_agent_events_received_total{agent}`` counts its events; `agent` labels are
  only trusted, authenticated ids, so their number is bounded by the configuration.
- Data, not configuration: exempt from the audit hook, like /api/v1/ingest.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Gauge

from api.audit import AUDIT_EXEMPT
from api.auth import Gatekeeper, Principal
from api.errors import ApiError, OrjsonResponse
from api.ndjson import count_lines, parse_ndjson
from api.roles import Permission
from api.routes_ingest import MAX_REPORTED_ERRORS, RETRY_AFTER_SECS, read_limited
from api.schemas import ERRORS, ErrorBody, IngestResult
from collectors.agent.codec import CONTENT_TYPE, BatchFormatError, decompress_batch
from collectors.agent.server_settings import AgentsSettings, build_receiver
from core.events import format_ts
from crypto.errors import ChannelError, Expired, Replayed, Tampered, UnknownSender, UnknownSession

log = logging.getLogger(__name__)

Ingest = Callable[[list[dict]], Awaitable[None]]
BATCHES_PATH = "/agent/batches"

# (reason label, HTTP status) per channel error, most specific first.
_CHANNEL_REJECTS: tuple[tuple[type[ChannelError], str, int], ...] = (
    (UnknownSender, "unknown_agent", 403),
    (Replayed, "replayed", 409),
    (Expired, "expired", 400),
    (UnknownSession, "unknown_session", 400),
    (Tampered, "tampered", 400),
    (ChannelError, "tampered", 400),
)


class AgentIngestMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.rejected = Counter("shouwang_agent_batches_rejected",
                                "Agent batches refused, by reason", ["reason"], registry=registry)
        self.accepted = Counter("shouwang_agent_batches_accepted",
                                "Agent batches stored, by agent", ["agent"], registry=registry)
        self.events = Counter("shouwang_agent_events_received",
                              "Events of accepted agent batches, by agent and outcome",
                              ["agent", "outcome"], registry=registry)
        self.last_seen = Gauge("shouwang_agent_last_seen_timestamp_seconds",
                               "When an agent's last batch was accepted (unix time)", ["agent"],
                               registry=registry)


class _Opened:
    __slots__ = ("agent_id", "events", "errors")

    def __init__(self, agent_id, events, errors):
        self.agent_id = agent_id
        self.events = events
        self.errors = errors


def agent_router(gate: Gatekeeper, *, settings: AgentsSettings, receiver, ingest: Ingest | None,
                 metrics: AgentIngestMetrics, ingest_timeout_secs: float,
                 clock: Callable[[], float] = time.time) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["agents"])

    def reject(reason: str, status: int, message: str) -> ApiError:
        metrics.rejected.labels(reason).inc()
        return ApiError(status, message, {"reason": reason})

    def open_batch(body: bytes, principal: Principal) -> _Opened:
        # CPU-bound (SM2 verify, SM4, zstd, JSON): runs in a worker thread.
        try:
            opened = receiver.open(body)
        except ChannelError as exc:
            for kind, reason, status in _CHANNEL_REJECTS:
                if isinstance(exc, kind):
                    raise reject(reason, status, str(exc)) from None
            raise
        try:
            ndjson = decompress_batch(opened.payload, settings.max_batch_expanded_bytes)
        except BatchFormatError as exc:
            raise reject("bad_payload", 400, f"batch from {opened.agent_id!r}: {exc}") from None
        lines = count_lines(ndjson)
        if lines > settings.max_batch_events:
            raise reject("too_large", 413, f"batch holds {lines} events; at most "
                         f"{settings.max_batch_events}")
        parsed = parse_ndjson(ndjson, now=format_ts(clock()), token_id=principal.token_id,
                              source_ip=principal.client_ip)
        for event in parsed.events:
            event["agent.id"] = opened.agent_id  # authenticated, whatever the line said
        return _Opened(opened.agent_id, parsed.events, parsed.errors)

    @router.post(BATCHES_PATH, status_code=200, summary="Ship a sealed agent batch",
                 openapi_extra={AUDIT_EXEMPT: True, "requestBody": {
                     "required": True, "description": "a channel message (crypto/FORMAT.md) "
                     "holding zstd-compressed NDJSON",
                     "content": {CONTENT_TYPE: {"schema": {"type": "string",
                                                           "format": "binary"}}}}},
                 responses={**ERRORS, 200: {"model": IngestResult},
                            409: {"model": ErrorBody, "description": "replayed batch"},
                            413: {"model": ErrorBody, "description": "batch too large"},
                            415: {"model": ErrorBody, "description": "wrong content type"}})
    async def receive_batch(
        request: Request,
        principal: Principal = Depends(gate.require(Permission.INGEST)),
    ) -> OrjsonResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != CONTENT_TYPE:
            raise reject("content_type", 415, f"send {CONTENT_TYPE}, not "
                         f"{content_type or 'no content type'}")
        try:
            body = await read_limited(request, settings.max_batch_bytes)
        except ApiError as exc:
            metrics.rejected.labels("too_large").inc()
            raise exc
        opened = await asyncio.to_thread(open_batch, body, principal)
        counts = {"accepted": len(opened.events), "rejected": len(opened.errors),
                  "errors": [error.as_dict() for error in opened.errors[:MAX_REPORTED_ERRORS]]}
        if opened.errors:
            metrics.events.labels(opened.agent_id, "rejected").inc(len(opened.errors))
            log.warning("batch from agent %s: %d line(s) rejected, e.g. %s", opened.agent_id,
                        len(opened.errors), opened.errors[0].reason)
        if opened.events:
            if ingest is None:
                raise ApiError(503, "ingest is not enabled on this server",
                               headers={"Retry-After": RETRY_AFTER_SECS})
            try:
                await asyncio.wait_for(ingest(opened.events), ingest_timeout_secs)
            except TimeoutError:
                raise ApiError(503, "the pipeline is full; retry later",
                               {"timeout_secs": ingest_timeout_secs},
                               headers={"Retry-After": RETRY_AFTER_SECS}) from None
            except Exception:
                log.exception("ingest of a batch from agent %s failed", opened.agent_id)
                raise ApiError(503, "the pipeline did not take the events; retry later",
                               headers={"Retry-After": RETRY_AFTER_SECS}) from None
        metrics.accepted.labels(opened.agent_id).inc()
        metrics.events.labels(opened.agent_id, "accepted").inc(len(opened.events))
        metrics.last_seen.labels(opened.agent_id).set(clock())
        return OrjsonResponse(counts, status_code=200)

    return router


def mount_agent_ingest(app: FastAPI, settings: AgentsSettings, *, ingest: Ingest | None,
                       registry: CollectorRegistry, ingest_timeout_secs: float,
                       clock: Callable[[], float] = time.time) -> None:
    """Add the agent endpoint to an app made by api.app.create_app (keys are read now)."""
    # No series is made up front for trusted agents: a restarted server would show them as
    # last seen in 1970 until their next batch. "Never seen" is absent() in a rule.
    metrics = AgentIngestMetrics(registry)
    app.include_router(agent_router(app.state.gatekeeper, settings=settings,
                                    receiver=build_receiver(settings), ingest=ingest,
                                    metrics=metrics, ingest_timeout_secs=ingest_timeout_secs,
                                    clock=clock))
