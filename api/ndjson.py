"""Turning an NDJSON ingest body into events.

Contract:
- One JSON object per line; blank lines are skipped. Nested objects are flattened to dotted
  keys ({"source": {"ip": "1.2.3.4"}} -> "source.ip"); lists are kept as values.
- A line that is not a JSON object, that names a field twice (flat and nested), or whose
  `@timestamp` is neither RFC 3339 text nor epoch seconds is rejected with its 1-based line
  number and the reason; the other lines are still accepted (partial acceptance).
- Accepted events get, when missing, `event.created` (now), `@timestamp` (= event.created),
  `event.id` and `event.kind` ("event"); epoch `@timestamp` values become RFC 3339 text.
  Provenance is always ours, never the sender's: `shouwang.ingest.token_id` and
  `shouwang.ingest.source_ip` overwrite whatever the line said.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from core.events import format_ts, new_event_id, parse_ts

MAX_DEPTH = 16


@dataclass
class LineError:
    line: int
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "error": self.reason}


@dataclass
class ParsedBody:
    events: list[dict] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class _Rejected(ValueError):
    pass


def flatten(document: dict) -> dict:
    # Agents and our own shippers send flat dotted events already: a check of the values is
    # half the price of the walk below, which copies every field.
    for key, value in document.items():
        if type(value) is dict or not key:
            break
    else:
        return document
    flat: dict = {}

    def walk(prefix: str, node: dict, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Rejected(f"objects nested deeper than {MAX_DEPTH} levels")
        for key, value in node.items():
            name = f"{prefix}{key}"
            if not key:
                raise _Rejected("empty field name")
            if isinstance(value, dict) and value:
                walk(name + ".", value, depth + 1)
            elif name in flat:
                raise _Rejected(f"field {name!r} given twice")
            else:
                flat[name] = value

    walk("", document, 0)
    return flat


def _timestamp(value) -> str:
    if isinstance(value, bool):
        raise _Rejected("@timestamp must be RFC 3339 text or epoch seconds")
    if isinstance(value, (int, float)):
        try:
            return format_ts(float(value))
        except (OverflowError, OSError, ValueError):
            raise _Rejected("@timestamp is out of range") from None
    if isinstance(value, str):
        try:
            parse_ts(value)
        except ValueError:
            raise _Rejected(f"@timestamp {value[:40]!r} is not an RFC 3339 time") from None
        return value
    raise _Rejected("@timestamp must be RFC 3339 text or epoch seconds")


def parse_ndjson(body: bytes, *, now: str, token_id: str | None,
                 source_ip: str | None) -> ParsedBody:
    parsed = ParsedBody()
    for number, raw in enumerate(body.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            try:
                document = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise _Rejected(f"not JSON: {exc.msg}") from None
            if not isinstance(document, dict):
                raise _Rejected(f"a line must be a JSON object, not {type(document).__name__}")
            event = flatten(document)
            if "@timestamp" in event:
                event["@timestamp"] = _timestamp(event["@timestamp"])
        except _Rejected as exc:
            parsed.errors.append(LineError(number, str(exc)))
            continue
        event.setdefault("event.created", now)
        event.setdefault("@timestamp", event["event.created"])
        event.setdefault("event.id", new_event_id())
        event.setdefault("event.kind", "event")
        event["shouwang.ingest.token_id"] = token_id
        event["shouwang.ingest.source_ip"] = source_ip
        parsed.events.append(event)
    return parsed


def count_lines(body: bytes) -> int:
    """Lines that hold something (what max_ingest_events limits)."""
    return sum(1 for raw in body.split(b"\n") if raw.strip())
