"""apache error log, 2.2 and 2.4 formats (and the same text forwarded through syslog).

  2.2: [Wed Jul 17 23:20:45 2013] [error] [client 127.0.0.1] user bob not found: /basic
  2.4: [Sat Jul 20 21:34:49.453232 2013] [auth_basic:error] [pid 17512:tid 1401] [client
       127.0.0.1:51380] AH01618: user bob not found: /basic
  syslog: ... httpd[22034]: [authz_core:error] [pid 22034] [client 192.0.2.1:58585] AH01630: ...

Classified (event.action; outcome failure):
  http_auth_failure    user not found, password mismatch, authentication failure, digest
                       nonce/realm/algorithm/qop errors, wrong authentication scheme
  http_access_denied   client denied by server configuration, authorization failures
  http_file_not_found  File does not exist, script not found or unable to stat,
                       Primary script unknown
  http_upstream_error  proxy: connection refused / timeout / error reading from backend
Other messages keep the module and level (action apache_error; outcome failure for error and
worse). Where the client field is attacker-reachable ("File does not exist: /x/[client 1.2.3.4]")
only apache's own [client ...] block is read.
"""
from __future__ import annotations

import re
from datetime import datetime

from collectors.parsers.base import MONTHS, CreatedClock, ParserOptions, TimestampCache, \
    base_event, classify_address, set_source

BODY = re.compile(
    r"\[(?:([^:\]\s]*):)?(\w+)\](?: \[pid (\d+)(?::tid (\d+))?\])?"
    r"(?: \[client (\[[^\]]+\](?::\d+)?|[^\]\s]+)\])? (?:(AH\d{5}): )?(.*)")
LINE = re.compile(r"\[(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] ")
REFERER = re.compile(r", referer: (\S*)$")
SEVERE = frozenset(("error", "crit", "alert", "emerg"))

AUTH = ["authentication", "web"]
WEB = ["web"]
_AUTH_USER = (
    re.compile(r"(?:Digest: )?user `(.*)' in realm `.*' not found"),
    re.compile(r"user (.*?) not found(?::|$)"),
    re.compile(r"(?:Digest: )?user (.*): (?:authentication failure|password mismatch)"),
)
_AUTH_WORDS = ("Digest: ", "client used wrong authentication scheme", "invalid nonce",
               "realm mismatch", "unknown algorithm", "invalid qop")
_DENIED_USER = (
    re.compile(r"user (.*): authorization failure"),
    re.compile(r"Authorization of user (.*) to access .* failed"),
)
_MISSING = ("File does not exist", "script not found or unable to stat", "script '",
            "Got error 'Primary script unknown")
_UPSTREAM = ("proxy", "backend", "upstream", "AH01114", "AH00957", "AH01102", "AH01084")


def apache_timestamp(text: str) -> datetime:
    """'Wed Jul 17 23:20:45.123456 2013'."""
    parts = text.split()
    hms, _, fraction = parts[3].partition(".")
    hour, minute, second = (int(x) for x in hms.split(":"))
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return datetime(int(parts[4]), MONTHS[parts[1]], int(parts[2]), hour, minute, second, micro)


def split_client(text: str) -> tuple[str, str | None]:
    """'[v6]:port', 'v4:port', bare v6 or v4 -> (address, port)."""
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        return address, rest[1:] if rest.startswith(":") else None
    ip, _ = classify_address(text)
    if ip is not None or text.count(":") != 1:
        return text, None
    address, _, port = text.partition(":")
    return address, port


def classify(text: str, code: str | None) -> tuple[str, list[str], list[str], dict]:
    for pattern in _AUTH_USER:
        match = pattern.match(text)
        if match:
            return "http_auth_failure", AUTH, ["info"], {"user.name": match.group(1)}
    for pattern in _DENIED_USER:
        match = pattern.match(text)
        if match:
            return "http_access_denied", AUTH, ["denied"], {"user.name": match.group(1)}
    if text.startswith("client denied by server configuration"):
        return "http_access_denied", WEB, ["denied"], {}
    if text.startswith(_AUTH_WORDS):
        return "http_auth_failure", AUTH, ["info"], {}
    for word in _MISSING:
        if text.startswith(word) or (code == "AH01071" and word in text):
            return "http_file_not_found", WEB, ["error"], {}
    if any(word in text for word in _UPSTREAM) or (code or "") in _UPSTREAM:
        return "http_upstream_error", WEB, ["error"], {}
    return "apache_error", WEB, ["error"], {}


class ApacheErrorParser:
    name = "apache_error"
    dataset = "apache.error"

    def __init__(self, options: ParserOptions | None = None):
        options = options or ParserOptions()
        self._created = CreatedClock(options.clock)
        self._stamps = TimestampCache(apache_timestamp, options.timezone)

    def parse(self, line: str) -> dict | None:
        head = LINE.match(line)
        if head is None:
            return None
        event = base_event(self.dataset, line, self._stamps.get(head.group(1)),
                           self._created.now())
        if not fill_body(event, line, head.end()):
            return None
        return event


def fill_body(event: dict, text: str, start: int = 0) -> bool:
    """Read an apache error body ("[module:level] [pid ..] [client ..] message") at `start`
    into `event`; False when it is not one."""
    match = BODY.match(text, start)
    if match is None:
        return False
    module, level, pid, tid, client, code, message = match.groups()
    event["log.level"] = level
    if module:
        event["log.logger"] = module
    if pid:
        event["process.pid"] = int(pid)
    if tid:
        event["process.thread.id"] = int(tid)
    if client:
        address, port = split_client(client)
        set_source(event, address, port)
    if code:
        event["error.code"] = code
    referer = REFERER.search(message)
    if referer:
        event["http.request.referrer"] = referer.group(1)
        message = message[:referer.start()]
    event["message"] = message
    action, category, kind, extra = classify(message, code)
    event["event.action"] = action
    event["event.category"] = list(category)
    event["event.type"] = kind
    failed = level in SEVERE or action != "apache_error"
    event["event.outcome"] = "failure" if failed else "unknown"
    event.update(extra)
    if "user.name" in event and not event["user.name"]:
        del event["user.name"]  # "user  not found": an empty user name was tried
    return True
