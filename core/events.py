"""Events are plain dicts keyed by flat dotted ECS field names ("source.ip", "@timestamp").

No model objects on the hot path: these helpers build and read such dicts cheaply.
`@timestamp` is when it happened at the source; `event.created` is when we first saw it.
Both are RFC 3339 strings in UTC with microseconds ("2026-11-25T14:25:43.123456Z").
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from itertools import count

# Event ids: a per-process random prefix and a counter are unique across restarts and far
# cheaper than uuid4 on a path that runs 100k times a second.
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = count()

EVENT_KINDS = ("event", "alert", "metric", "state", "pipeline_error", "signal", "enrichment")


def new_event_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def format_ts(epoch_secs: float) -> str:
    """RFC 3339 UTC string for an epoch time, microsecond precision."""
    dt = datetime.fromtimestamp(epoch_secs, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> float:
    """Epoch seconds of an RFC 3339 / ISO 8601 timestamp; naive times are taken as UTC."""
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def now_ts(clock=time.time) -> str:
    return format_ts(clock())


def new_event(dataset: str, *, kind: str = "event", message: str | None = None,
              original: str | None = None, timestamp: str | None = None,
              created: str | None = None, **fields) -> dict:
    """A fresh event dict. Extra keyword fields use '__' for dots: source__ip -> source.ip."""
    created = created or now_ts()
    event = {
        "@timestamp": timestamp or created,
        "event.created": created,
        "event.id": new_event_id(),
        "event.kind": kind,
        "event.dataset": dataset,
    }
    if message is not None:
        event["message"] = message
    if original is not None:
        event["event.original"] = original
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


def pipeline_error_event(component: str, stage: str, reason: str, *,
                         original: str | None = None, **fields) -> dict:
    """An event of kind pipeline_error: bad input or a failing stage, stored like any event so
    that ops can see and search it (the counters alone say how many, this says which)."""
    event = new_event(
        "shouwang.pipeline", kind="pipeline_error", message=f"{component}: {stage}: {reason}",
        original=original,
    )
    event["error.message"] = reason
    event["shouwang.component"] = component
    event["shouwang.stage"] = stage
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


def event_epoch(event: dict) -> float:
    """Epoch seconds of an event's @timestamp (falls back to event.created, then now)."""
    for key in ("@timestamp", "event.created"):
        value = event.get(key)
        if isinstance(value, str):
            try:
                return parse_ts(value)
            except ValueError:
                continue
        elif isinstance(value, (int, float)):
            return float(value)
    return time.time()
