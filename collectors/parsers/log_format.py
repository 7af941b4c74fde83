"""Compile an nginx `log_format` string into a regex and map its variables to ECS fields.

'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent' becomes one
anchored regex with a named group per variable. A variable inside double quotes may hold
spaces (nginx escapes quotes in it as \\x22); any other runs up to the literal character that
follows it (a space, '|', ...); $time_local, $time_iso8601 and $status have their own shapes.
Variables we do not know are kept as shouwang.nginx.<variable> strings, never dropped.
"""
from __future__ import annotations

import re
from datetime import tzinfo

from collectors.parsers.access import clf_timestamp, fill_request, fill_status
from collectors.parsers.base import (QUOTED_VALUE, TimestampCache, base_event, iso_timestamp,
                                     set_source)
from core.errors import ConfigError

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_SHAPES = {
    "time_local": r"\d{1,2}/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
    "time_iso8601": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?",
    "status": r"\d{3}",
}
# Variables mapped straight onto an ECS field (text values).
_TEXT_FIELDS = {
    "http_referer": "http.request.referrer",
    "http_user_agent": "user_agent.original",
    "request_method": "http.request.method",
    "request_uri": "url.original",
    "host": "url.domain",
    "http_host": "url.domain",
    "server_name": "destination.domain",
    "scheme": "url.scheme",
    "upstream_addr": "shouwang.nginx.upstream_addr",
    "http_x_forwarded_for": "shouwang.http.x_forwarded_for",
    "ssl_protocol": "tls.version_protocol",
    "ssl_cipher": "tls.cipher",
}
_INT_FIELDS = {
    "body_bytes_sent": "http.response.body.bytes",
    "bytes_sent": "http.response.bytes",
    "request_length": "http.request.bytes",
    "remote_port": "source.port",
    "server_port": "destination.port",
    "pipe": None,
}


class LogFormat:
    """One compiled nginx log_format."""

    def __init__(self, log_format: str, tz: tzinfo | None):
        self.log_format = log_format
        pattern, self.variables = self._compile(log_format)
        try:
            self._match = re.compile(pattern).match
        except re.error as exc:
            raise ConfigError(f"log_format cannot be compiled: {exc}", key="log_format") from None
        self._local = TimestampCache(clf_timestamp, tz)
        self._iso = TimestampCache(iso_timestamp, tz)

    @staticmethod
    def _compile(log_format: str) -> tuple[str, list[str]]:
        parts = ["^"]
        variables: list[str] = []
        position = 0
        for match in _VARIABLE.finditer(log_format):
            literal = log_format[position:match.start()]
            parts.append(re.escape(literal))
            name = match.group(1) or match.group(2)
            if name in variables:  # the same variable twice: only the first is captured
                group = "(?:"
            else:
                group = f"(?P<{name}>"
                variables.append(name)
            following = log_format[match.end():match.end() + 1]
            if name in _SHAPES:
                shape = _SHAPES[name]
            elif following == '"':
                shape = QUOTED_VALUE  # nginx escapes '"' inside values as \x22
            elif following and following != "$":
                # Up to the literal that follows, so '$request|$status' splits on '|'.
                shape = "[^" + re.escape(following) + "]*"
            else:
                shape = r".*" if not following else r"\S*"
            parts.append(group + shape + ")")
            position = match.end()
        parts.append(re.escape(log_format[position:]))
        if not variables:
            raise ConfigError("log_format has no $variables", key="log_format")
        return "".join(parts), variables

    def parse(self, line: str, dataset: str, created: str) -> dict | None:
        match = self._match(line)
        if match is None:
            return None
        values = match.groupdict()
        stamp = None
        if values.get("time_local"):
            stamp = self._local.get(values["time_local"])
        elif values.get("time_iso8601"):
            stamp = self._iso.get(values["time_iso8601"])
        event = base_event(dataset, line, stamp, created)
        event["event.category"] = ["web"]
        event["event.action"] = "http_request"
        for name, value in values.items():
            if value is None or value == "" or value == "-":
                continue
            if name in ("time_local", "time_iso8601"):
                continue
            if name == "remote_addr":
                set_source(event, value)
            elif name == "remote_user":
                event["user.name"] = value
            elif name == "request":
                fill_request(event, value)
            elif name == "status":
                fill_status(event, value)
            elif name == "request_time":
                try:
                    event["event.duration"] = int(float(value) * 1e9)
                except ValueError:
                    event["shouwang.nginx.request_time"] = value
            elif name in _TEXT_FIELDS:
                event[_TEXT_FIELDS[name]] = value
            elif name in _INT_FIELDS and _INT_FIELDS[name] and value.isdigit():
                event[_INT_FIELDS[name]] = int(value)
            else:
                event[f"shouwang.nginx.{name}"] = value
        if "url.original" in event and "url.path" not in event:
            path, sep, query = event["url.original"].partition("?")
            event["url.path"] = path
            if sep:
                event["url.query"] = query
        if "event.outcome" not in event:
            event["event.type"] = ["access"]
        return event
