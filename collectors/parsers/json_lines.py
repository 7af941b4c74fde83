"""JSON lines: one object per line. Nested objects are flattened to dotted keys
({"source": {"ip": "1.2.3.4"}} -> "source.ip"), ECS dotted keys are kept as they are, lists
stay lists. The object's own @timestamp, event.id, event.created, event.kind and event.dataset
win (re-reading our own NDJSON output gives the same events); missing ones are filled in. When
@timestamp is absent, "time", "timestamp" or "ts" (RFC 3339 or epoch seconds) is used, and
"msg"/"level" fill message/log.level, as application loggers commonly write them.
"""
from __future__ import annotations

import orjson

from collectors.parsers.base import CreatedClock, ParserOptions, TimestampCache, format_utc, \
    iso_timestamp
from core.events import EVENT_KINDS, format_ts, new_event_id

_TIME_KEYS = ("time", "timestamp", "ts")


def flatten(value: dict, prefix: str = "", out: dict | None = None) -> dict:
    out = {} if out is None else out
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flatten(item, name + ".", out)
        else:
            out[name] = item
    return out


class JsonLinesParser:
    name = "json"
    dataset = "json"

    def __init__(self, options: ParserOptions | None = None):
        options = options or ParserOptions()
        self._created = CreatedClock(options.clock)
        self._stamps = TimestampCache(iso_timestamp, options.timezone)

    def parse(self, line: str) -> dict | None:
        text = line.strip()
        if not text.startswith("{"):
            return None
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        fields = flatten(data)
        created = self._created.now()
        event = {
            "@timestamp": None,
            "event.created": created,
            "event.id": None,
            "event.kind": "event",
            "event.dataset": self.dataset,
            "event.original": line,
        }
        event.update(fields)
        if event["event.id"] is None:
            event["event.id"] = new_event_id()
        if event.get("event.kind") not in EVENT_KINDS:
            event["event.kind"] = "event"
        if not isinstance(event["@timestamp"], str):
            event["@timestamp"] = self._timestamp(fields) or created
        if "message" not in event and isinstance(fields.get("msg"), str):
            event["message"] = fields["msg"]
        if "log.level" not in event and isinstance(fields.get("level"), str):
            event["log.level"] = fields["level"]
        return event

    def _timestamp(self, fields: dict) -> str | None:
        value = fields.get("@timestamp")
        for key in _TIME_KEYS:
            if value is not None:
                break
            value = fields.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value  # epoch millis are common too
            try:
                return format_ts(seconds)
            except (OverflowError, OSError, ValueError):
                return None
        if isinstance(value, str):
            return self._stamps.get(value)
        return None


__all__ = ["JsonLinesParser", "flatten", "format_utc"]
