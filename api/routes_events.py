"""GET /api/v1/events: search stored events.

Query parameters (unknown ones are a 400, so a typo is never silently ignored):
- `start`, `end`: RFC 3339 time or epoch seconds; [start, end), start before end.
- `filter`: repeatable ``FIELD:VALUE`` (split at the first colon, so IPv6 values work);
  the same field given twice matches either value, different fields must all match.
- `q`: full text over `message`. `limit`: 1..1000 (default 100). `cursor`: the `next_cursor`
  of the previous page.
Answers ``{"events": [...], "next_cursor": str | null}``, newest first (Store contract).
"""
from __future__ import annotations

import math
import re

from fastapi import APIRouter, Depends, Query as QueryParam, Request

from api.auth import Gatekeeper
from api.errors import OrjsonResponse, bad_parameter
from api.roles import Permission
from api.schemas import ERRORS, EventsPage
from core.events import parse_ts
from storage.base import Query, Store

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_FILTERS = 32
KNOWN_PARAMETERS = frozenset({"start", "end", "filter", "q", "limit", "cursor"})
FIELD_NAME = re.compile(r"^[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,127}$")


def parse_time(parameter: str, text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_ts(text)
        except ValueError:
            raise bad_parameter(parameter, "expected an RFC 3339 time or epoch seconds") from None
    if not math.isfinite(value):
        raise bad_parameter(parameter, "expected a finite number of epoch seconds")
    return value


def parse_filters(values: list[str]) -> dict[str, tuple[str, ...]]:
    if len(values) > MAX_FILTERS:
        raise bad_parameter("filter", f"at most {MAX_FILTERS} filters")
    filters: dict[str, list[str]] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep:
            raise bad_parameter("filter", f"{item[:60]!r} is not FIELD:VALUE")
        if not FIELD_NAME.match(name):
            raise bad_parameter("filter", f"{name[:60]!r} is not a field name")
        filters.setdefault(name, []).append(value)
    return {name: tuple(values) for name, values in filters.items()}


def events_router(gate: Gatekeeper, *, store: Store) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"])

    @router.get("/events", summary="Search events",
                dependencies=[Depends(gate.require(Permission.EVENTS_READ))],
                responses={**ERRORS, 200: {"model": EventsPage},
                           400: {"model": ERRORS[400]["model"],
                                 "description": "a query parameter is malformed; "
                                 "detail.parameter names it"}})
    async def search_events(
        request: Request,
        start: str | None = QueryParam(None, description="RFC 3339 or epoch seconds, "
                                       "inclusive"),
        end: str | None = QueryParam(None, description="RFC 3339 or epoch seconds, exclusive"),
        filter: list[str] = QueryParam([], description="FIELD:VALUE, repeatable",
                                       examples=["source.ip:1.2.3.4"]),
        q: str | None = QueryParam(None, max_length=1000, description="full text on message"),
        limit: int = QueryParam(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        cursor: str | None = QueryParam(None, max_length=4096,
                                        description="next_cursor of the previous page"),
    ) -> OrjsonResponse:
        unknown = sorted(set(request.query_params.keys()) - KNOWN_PARAMETERS)
        if unknown:
            raise bad_parameter(unknown[0], "unknown parameter (known: "
                                + ", ".join(sorted(KNOWN_PARAMETERS)) + ")")
        start_secs = parse_time("start", start)
        end_secs = parse_time("end", end)
        if start_secs is not None and end_secs is not None and start_secs >= end_secs:
            raise bad_parameter("end", "must be after start")
        query = Query(start=start_secs, end=end_secs, filters=parse_filters(filter),
                      text=q or None, limit=limit, cursor=cursor or None)
        result = await store.search(query)
        return OrjsonResponse({"events": result.events, "next_cursor": result.next_cursor})

    return router
