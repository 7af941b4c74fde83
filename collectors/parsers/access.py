"""nginx / apache access logs: combined, common, and custom nginx `log_format` strings.

Combined: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
"$http_referer" "$http_user_agent"'; common stops after the byte count; extra trailing fields
(nginx's "$http_x_forwarded_for", for instance) are allowed and ignored. Apache's `%l` (ident)
may be anything, not only "-". A custom `log_format` is compiled by collectors.parsers.log_format
into a regex whose groups map to the same ECS fields.

Fields: source.ip|domain, user.name, http.request.method, url.original/path/query,
http.version, http.response.status_code, http.response.body.bytes, http.request.referrer,
user_agent.original; event.category [web], event.type [access] (+ error for >= 400),
event.outcome success (< 400) or failure.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from collectors.parsers.base import (MONTHS, QUOTED_VALUE, CreatedClock, ParserOptions,
                                     TimestampCache, base_event, set_source)

_QUOTED = f"({QUOTED_VALUE})"
COMBINED = re.compile(
    r'(\S+) (\S+) (\S+) \[([^\]]+)\] "' + _QUOTED + r'" (\d{3}|-) (\d+|-)'
    r'(?: "' + _QUOTED + r'" "' + _QUOTED + r'")?')


def clf_timestamp(text: str) -> datetime:
    """'10/Oct/2000:13:55:36 -0700' (strptime is ten times slower, and this runs per distinct
    stamp anyway)."""
    day, month, year = text[0:2], text[3:6], text[7:11]
    dt = datetime(int(year), MONTHS[month], int(day), int(text[12:14]), int(text[15:17]),
                  int(text[18:20]))
    zone = text[21:].strip()
    if len(zone) == 5 and zone[0] in "+-":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        return dt.replace(tzinfo=timezone(-offset if zone[0] == "-" else offset))
    return dt  # no zone: taken in the configured one


def fill_request(event: dict, request: str) -> None:
    """'GET /a?b=1 HTTP/1.1' -> method, url.*, http.version; anything else stays as is in
    url.original (malformed requests are exactly what attack detectors look at)."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        event["http.request.method"] = parts[0]
        target = parts[1]
        event["http.version"] = parts[2][5:]
    elif len(parts) == 2 and parts[1].startswith("HTTP/"):
        event["http.request.method"] = parts[0]
        target = ""
        event["http.version"] = parts[1][5:]
    else:
        if request and request != "-":
            event["url.original"] = request
        return
    event["url.original"] = target
    path, sep, query = target.partition("?")
    event["url.path"] = path
    if sep:
        event["url.query"] = query


def fill_status(event: dict, status: str) -> None:
    if status.isdigit():
        code = int(status)
        event["http.response.status_code"] = code
        if code >= 400:
            event["event.type"] = ["access", "error"]
            event["event.outcome"] = "failure"
            return
    event["event.type"] = ["access"]
    event["event.outcome"] = "success"


class AccessLogParser:
    """Combined and common access logs (nginx's and apache's default formats)."""

    name = "nginx"
    dataset = "nginx.access"

    def __init__(self, options: ParserOptions | None = None):
        options = options or ParserOptions()
        self._created = CreatedClock(options.clock)
        self._stamps = TimestampCache(clf_timestamp, options.timezone)
        self._match = COMBINED.match
        self._custom = None
        if options.log_format:
            from collectors.parsers.log_format import LogFormat

            self._custom = LogFormat(options.log_format, options.timezone)

    def parse(self, line: str) -> dict | None:
        if self._custom is not None:
            return self._custom.parse(line, self.dataset, self._created.now())
        match = self._match(line)
        if match is None:
            return None
        (address, _ident, user, stamp, request, status, size, referrer,
         agent) = match.groups()
        event = base_event(self.dataset, line, self._stamps.get(stamp), self._created.now())
        event["event.category"] = ["web"]
        event["event.action"] = "http_request"
        set_source(event, address)
        if user != "-":
            event["user.name"] = user
        fill_request(event, request)
        fill_status(event, status)
        if size != "-":
            event["http.response.body.bytes"] = int(size)
        if referrer and referrer != "-":
            event["http.request.referrer"] = referrer
        if agent and agent != "-":
            event["user_agent.original"] = agent
        return event


class ApacheAccessParser(AccessLogParser):
    name = "apache_access"
    dataset = "apache.access"
