"""Response shapes, for the OpenAPI description only: handlers build plain dicts and render
them with orjson, so no model objects sit on the request path."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="one line for a person")
    detail: Any = Field(None, description="data about the error, e.g. {'parameter': 'start'}")


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready", "not ready"])
    checks: dict[str, dict[str, Any]] = Field(description="each check: ok, and a detail when "
                                              "it is not")


class EventsPage(BaseModel):
    events: list[dict[str, Any]] = Field(description="flat dotted-ECS events, newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null "
                                    "on the last one")


class LineError(BaseModel):
    line: int = Field(description="1-based line number in the body")
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[LineError] = Field(description="the first 100 rejected lines")


ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 503)}
