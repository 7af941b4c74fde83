"""nginx error log: '2026/11/25 14:25:43 [error] 2865#0: *66647 <text>, client: IP, server: S,
request: "GET / HTTP/1.1", upstream: "...", host: "..."'.

The context after the LAST ", client: " is nginx's own; text before it may hold
attacker-controlled strings (a user name with an injected ", client: 1.2.3.4"), so the client
is always taken from the last occurrence and user names are matched greedily up to nginx's
fixed wording.

Classified (event.action; event.category; event.outcome failure):
  http_auth_failure   user "x" was not found in "...htpasswd" / user "x": password mismatch
  http_file_not_found open() "/path" failed (2: No such file or directory), "/p" is not found
  http_access_denied  (13: Permission denied), access forbidden by rule
  http_upstream_error connect() failed ... upstream, upstream timed out, no live upstreams, ...
  http_rate_limited   limiting requests / connections
  tls_handshake_error SSL_do_handshake() failed
Anything else is kept with log.level and the message (action nginx_error, outcome failure for
error and worse, unknown otherwise).
"""
from __future__ import annotations

import re
from datetime import datetime

from collectors.parsers.access import fill_request
from collectors.parsers.base import CreatedClock, ParserOptions, TimestampCache, base_event, \
    set_source

LINE = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)")
CONTEXT = re.compile(
    r'client: ([^,]*), server: ([^,]*)(?:, request: "((?:[^"\\]|\\.)*)")?'
    r'(?:, subrequest: "[^"]*")?(?:, upstream: "([^"]*)")?(?:, host: "([^"]*)")?'
    r'(?:, referrer: "([^"]*)")?')
USER_NOT_FOUND = re.compile(r'user "(.*)":? was not found in "([^"]*)"$')
PASSWORD_MISMATCH = re.compile(r'user "(.*)": password mismatch$')
OPEN_FAILED = re.compile(r'(?:open\(\) )?"([^"]*)" (?:failed|is not found) \((\d+): ([^)]*)\)')
SEVERE = frozenset(("error", "crit", "alert", "emerg"))

AUTH = ["authentication", "web"]
WEB = ["web"]


def nginx_timestamp(text: str) -> datetime:
    return datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                    int(text[14:16]), int(text[17:19]))


def classify(text: str) -> tuple[str, list[str], list[str], dict]:
    """(action, category, type, extra fields) of an nginx error message."""
    if text.startswith("user "):
        match = USER_NOT_FOUND.match(text)
        if match:
            return "http_auth_failure", AUTH, ["info"], {
                "user.name": match.group(1), "error.message": "user not found",
                "file.path": match.group(2)}
        match = PASSWORD_MISMATCH.match(text)
        if match:
            return "http_auth_failure", AUTH, ["info"], {
                "user.name": match.group(1), "error.message": "password mismatch"}
    match = OPEN_FAILED.match(text)
    if match:
        errno = match.group(2)
        fields = {"file.path": match.group(1), "error.code": errno,
                  "error.message": match.group(3)}
        if errno == "13":
            return "http_access_denied", WEB, ["denied"], fields
        if errno in ("2", "20"):
            return "http_file_not_found", WEB, ["error"], fields
        return "http_file_error", WEB, ["error"], fields
    if "upstream" in text:
        return "http_upstream_error", WEB, ["error"], {}
    if text.startswith("limiting "):
        return "http_rate_limited", WEB, ["denied"], {}
    if text.startswith("access forbidden by rule"):
        return "http_access_denied", WEB, ["denied"], {}
    if text.startswith("SSL_do_handshake() failed"):
        return "tls_handshake_error", ["network", "web"], ["error"], {}
    if text.startswith("no user/password was provided"):
        return "http_auth_missing", AUTH, ["info"], {}
    return "nginx_error", WEB, ["error"], {}


class NginxErrorParser:
    name = "nginx_error"
    dataset = "nginx.error"

    def __init__(self, options: ParserOptions | None = None):
        options = options or ParserOptions()
        self._created = CreatedClock(options.clock)
        self._stamps = TimestampCache(nginx_timestamp, options.timezone)

    def parse(self, line: str) -> dict | None:
        match = LINE.match(line)
        if match is None:
            return None
        stamp, level, pid, tid, connection, text = match.groups()
        event = base_event(self.dataset, line, self._stamps.get(stamp), self._created.now())
        event["log.level"] = level
        event["process.pid"] = int(pid)
        event["process.thread.id"] = int(tid)
        if connection:
            event["shouwang.nginx.connection_id"] = int(connection)
        cut = text.rfind(", client: ")
        message = text
        if cut >= 0:
            message = text[:cut]
            context = CONTEXT.match(text, cut + 2)
            if context:
                client, server, request, upstream, host, referrer = context.groups()
                set_source(event, client)
                if server:
                    event["destination.domain"] = server
                if request:
                    fill_request(event, request)
                if upstream:
                    event["shouwang.nginx.upstream"] = upstream
                if host:
                    event["url.domain"] = host
                if referrer:
                    event["http.request.referrer"] = referrer
        event["message"] = message
        action, category, kind, extra = classify(message)
        event["event.action"] = action
        event["event.category"] = list(category)
        event["event.type"] = kind
        event["event.outcome"] = "failure" if level in SEVERE or extra.get("user.name") \
            is not None else "unknown"
        event.update(extra)
        return event
