"""Syslog lines: the header, then the message body dispatched by program name.

Headers read (priority optional unless noted):
  RFC 3164   "<34>Feb  5 14:34:10 host sshd[12]: msg", with a year ("Feb  5 2026 14:..."),
             without a host ("Feb  5 14:34:10 sshd[12]: msg"), "[sshd]" tags
  ISO        "2026-11-25T14:25:43.123456+00:00 host sshd[12]: msg" (rsyslog, journald files)
  RFC 5424   "<38>1 2026-11-25T14:25:43Z host app procid msgid [sd@1 k="v"] msg" (priority
             required), structured data -> log.syslog.structured_data.<id>.<param>
Program parsers: sshd, PAM (any program), sudo, su, apache (httpd/apache2). Others give a
generic event (dataset system.syslog, event.action syslog). A header without a program tag
still gives an event with what could be read; only lines with no header at all are None.

The "sshd" format (`SshdParser`) additionally reads journal-style lines without a timestamp
("host sshd[12]: msg"), as `journalctl -o short` exports without a date do.
"""
from __future__ import annotations

import re

from collectors.parsers.apache_error import fill_body as fill_apache_body
from collectors.parsers.base import (QUOTED_VALUE, BsdTimestamps, CreatedClock, ParserOptions,
                                     TimestampCache, base_event, iso_timestamp)
from collectors.parsers.pam import fill_pam, is_pam
from collectors.parsers.sshd import SshdMessages
from collectors.parsers.sudo import fill_su, fill_sudo

_TAG = r"(?:([^\s\[\]:]+)(?:\[(\d+)\])?:|\[([^\]\s]+)\]:?)(?: |$)"
RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]?\d"
    r"(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d+)?) (?:(\S+) )??" + _TAG + r"(.*)", re.DOTALL)
ISO = re.compile(
    r"(?:<(\d{1,3})>)?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?:(\S+) )??" + _TAG + r"(.*)", re.DOTALL)
# A header whose message has no program tag: "<13>Feb  5 14:34:10 host free text".
UNTAGGED = re.compile(
    r"(?:<(\d{1,3})>)?((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]?\d"
    r"(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) (\S+) (.*)", re.DOTALL)
RFC5424 = re.compile(
    r'<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) '
    r'(-|(?:\[[^\]"\s]+(?: [^=\s\]]+="' + QUOTED_VALUE + r'")*\])+)(?: (.*))?', re.DOTALL)
BARE = re.compile(r"(\S+) " + _TAG + r"(.*)", re.DOTALL)
_SD_ELEMENT = re.compile(r'\[([^\]"\s]+)((?: [^=\s\]]+="' + QUOTED_VALUE + r'")*)\]')
_SD_PARAM = re.compile(r' ([^=\s\]]+)="(' + QUOTED_VALUE + ')"')

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0",
              "local1", "local2", "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice",
              "informational", "debug")
AUTH_DATASET = "system.auth"
SYSLOG_DATASET = "system.syslog"
AUTH_PROGRAMS = frozenset(("sshd", "sshd-session", "sshd-auth", "sudo", "su", "login"))


def program_key(program: str) -> str:
    """'/usr/sbin/sshd' -> 'sshd', 'httpd/backend1' -> 'httpd', 'CRON' -> 'cron'."""
    name = program.lower()
    if "/" in name:
        parts = [part for part in name.split("/") if part]
        name = parts[-1] if program.startswith("/") else (parts[0] if parts else name)
    return name


def set_priority(event: dict, priority: str | None) -> None:
    if priority is None:
        return
    value = int(priority)
    if value > 191:
        return
    facility, severity = divmod(value, 8)
    event["log.syslog.priority"] = value
    event["log.syslog.facility.code"] = facility
    event["log.syslog.facility.name"] = FACILITIES[facility]
    event["log.syslog.severity.code"] = severity
    event["log.syslog.severity.name"] = SEVERITIES[severity]


def structured_data(text: str) -> dict:
    fields = {}
    for element in _SD_ELEMENT.finditer(text):
        sd_id = element.group(1)
        for param in _SD_PARAM.finditer(element.group(2)):
            value = param.group(2).replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
            fields[f"log.syslog.structured_data.{sd_id}.{param.group(1)}"] = value
    return fields


def _sudo(event, message, pid, host) -> bool:
    return fill_sudo(event, message)


def _su(event, message, pid, host) -> bool:
    return fill_su(event, message)


class SyslogParser:
    """Syslog headers plus program parsers; one instance per stream (sshd memory)."""

    name = "syslog"
    accept_bare = False

    def __init__(self, options: ParserOptions | None = None):
        options = options or ParserOptions()
        self._clock = options.clock
        self._created = CreatedClock(options.clock)
        self._bsd = BsdTimestamps(options.timezone, options.clock)
        self._iso = TimestampCache(iso_timestamp, options.timezone)
        self._sshd = SshdMessages()
        self._programs = {name: self._fill_sshd for name in SshdMessages.programs}
        self._programs.update({"sudo": _sudo, "su": _su, "httpd": self._fill_apache,
                               "apache2": self._fill_apache, "apache": self._fill_apache})

    def parse(self, line: str) -> dict | None:
        if line.endswith("\n"):
            line = line.rstrip("\r\n")
        first = line[:1]
        if first.isalpha():
            match = RFC3164.match(line)
            if match:
                return self._event(line, match, self._bsd.get(match.group(2)))
        elif first.isdigit():
            match = ISO.match(line)
            if match:
                return self._event(line, match, self._iso.get(match.group(2)))
        elif first == "<":
            if line.find(">1 ", 1, 8) >= 0:
                match = RFC5424.match(line)
                if match:
                    return self._rfc5424(line, match)
            match = RFC3164.match(line)
            if match:
                return self._event(line, match, self._bsd.get(match.group(2)))
            match = ISO.match(line)
            if match:
                return self._event(line, match, self._iso.get(match.group(2)))
        match = UNTAGGED.match(line)
        if match:
            return self._untagged(line, match)
        if self.accept_bare:
            match = BARE.match(line)
            if match:
                return self._dispatch(line, None, None, *match.groups())
        return None

    def _event(self, line: str, match: re.Match, timestamp: str | None) -> dict:
        priority, _stamp, host, program, pid, bracketed, message = match.groups()
        return self._dispatch(line, priority, timestamp, host, program, pid, bracketed, message)

    def _dispatch(self, line, priority, timestamp, host, program, pid, bracketed, message,
                  extra: dict | None = None) -> dict:
        program = program or bracketed
        event = base_event(SYSLOG_DATASET, line, timestamp, self._created.now())
        set_priority(event, priority)
        if host and host != "-":
            event["host.hostname"] = host
            event["log.syslog.hostname"] = host
        if program:
            event["process.name"] = program
            event["log.syslog.appname"] = program
        if pid:
            event["process.pid"] = int(pid)
            event["log.syslog.procid"] = pid
        if extra:
            event.update(extra)
        event["message"] = message
        key = program_key(program) if program else ""
        handler = self._programs.get(key)
        known = handler(event, message, pid, host) if handler is not None else False
        if not known and is_pam(message):
            known = fill_pam(event, message)
        if "event.action" not in event:
            event["event.action"] = "syslog"
        category = event.get("event.category")
        if key in AUTH_PROGRAMS or (category is not None and "authentication" in category):
            event["event.dataset"] = AUTH_DATASET
        elif known and handler is self._fill_apache:
            event["event.dataset"] = "apache.error"
        return event

    def _fill_sshd(self, event, message, pid, host) -> bool:
        return self._sshd.fill(event, message, pid, host)

    @staticmethod
    def _fill_apache(event, message, pid, host) -> bool:
        return fill_apache_body(event, message)

    def _rfc5424(self, line: str, match: re.Match) -> dict:
        (priority, version, stamp, host, app, procid, msgid, sd, message) = match.groups()
        timestamp = self._iso.get(stamp) if stamp != "-" else None
        extra = {"log.syslog.version": version}
        if msgid != "-":
            extra["log.syslog.msgid"] = msgid
        if sd != "-":
            extra.update(structured_data(sd))
        message = message or ""
        if message.startswith("\ufeff"):
            message = message[1:]
        pid = procid if procid.isdigit() else None
        event = self._dispatch(line, priority, timestamp, host, app if app != "-" else "",
                               pid, None, message, extra)
        if procid != "-" and pid is None:
            event["log.syslog.procid"] = procid
        return event

    def _untagged(self, line: str, match: re.Match) -> dict:
        priority, stamp, host, message = match.groups()
        timestamp = (self._iso.get(stamp) if stamp[:1].isdigit() else self._bsd.get(stamp))
        event = base_event(SYSLOG_DATASET, line, timestamp, self._created.now())
        set_priority(event, priority)
        event["host.hostname"] = host
        event["log.syslog.hostname"] = host
        event["message"] = message
        event["event.action"] = "syslog"
        return event


class SshdParser(SyslogParser):
    """Auth logs: syslog lines, plus journal exports without a timestamp."""

    name = "sshd"
    accept_bare = True
