"""What every log parser shares: the parser contract, options, and cheap per-line helpers.

Contract: a parser has a ``name`` and ``parse(line) -> dict | None``. It returns a flat dotted
ECS event (built like core.events.new_event) or None when the line is not its format; it never
raises on bad input. A parser instance may keep small bounded state (caches, sshd's pid
memory), so each stream (file, socket) gets its own instance, built as ``cls(options)``.

Hot-path rules (the target is >= 100k lines/s on one core): regexes are compiled once per
class, timestamps are converted once per distinct string (`TimestampCache`), `event.created`
is formatted once per second (`CreatedClock`), and addresses are classified through a cache.
"""
from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Callable, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigError
from core.events import new_event_id

UTC = timezone.utc
MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Caches are cleared when they grow past this, so a flood of distinct strings cannot eat memory.
CACHE_MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class ParserOptions:
    """How lines are read: the time zone of timestamps that carry none (None: local time),
    the clock (for the year of year-less syslog stamps and for event.created) and, for the
    nginx/apache parsers, a custom `log_format`."""

    timezone: tzinfo | None = None
    clock: Callable[[], float] = time.time
    log_format: str | None = None
    extra: dict = field(default_factory=dict)


def load_timezone(name: str | None) -> tzinfo | None:
    """'UTC', 'Asia/Shanghai', '+08:00' or None/'local' (the machine's local time)."""
    if name is None or name in ("", "local"):
        return None
    if name.upper() in ("UTC", "Z"):
        return UTC
    if name[:1] in "+-" and len(name) in (5, 6):
        digits = name[1:].replace(":", "")
        try:
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        except ValueError:
            raise ConfigError(f"invalid time zone offset {name!r}", key="timezone") from None
        return timezone(-offset if name[0] == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name such as "
                          "'Asia/Shanghai', an offset such as '+08:00', or 'local')",
                          key="timezone") from None


@runtime_checkable
class Parser(Protocol):
    name: str

    def parse(self, line: str) -> dict | None: ...


class CreatedClock:
    """`event.created` strings, to the millisecond (the resolution of Elasticsearch's `date`
    type): lines read together share one string instead of formatting one per line."""

    __slots__ = ("clock", "_milli", "_text")

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._milli = -1
        self._text = ""

    def now(self) -> str:
        milli = int(self.clock() * 1000)
        if milli != self._milli:
            self._milli = milli
            second, rest = divmod(milli, 1000)
            self._text = (datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
                          + f"{rest:03d}000Z")
        return self._text


def format_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def localize(naive: datetime, tz: tzinfo | None) -> datetime:
    """A naive wall-clock time in `tz` (None: the machine's local zone) as an aware datetime."""
    if tz is None:
        return naive.astimezone()  # naive -> local zone, DST-aware
    return naive.replace(tzinfo=tz)


class TimestampCache:
    """Converts the timestamp strings of one log format to RFC 3339 UTC, once per distinct
    string. `convert` is the slow function (str -> datetime, aware or naive); naive results are
    taken in the configured time zone. Unreadable stamps give None (the caller uses now)."""

    __slots__ = ("_convert", "_tz", "_cache")

    def __init__(self, convert: Callable[[str], datetime | None], tz: tzinfo | None):
        self._convert = convert
        self._tz = tz
        self._cache: dict[str, str | None] = {}

    def get(self, text: str) -> str | None:
        try:
            return self._cache[text]
        except KeyError:
            pass
        try:
            dt = self._convert(text)
            if dt is not None and dt.tzinfo is None:
                dt = localize(dt, self._tz)
            value = format_utc(dt) if dt is not None else None
        except (ValueError, KeyError, IndexError, OverflowError):
            value = None
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[text] = value
        return value

    def clear(self) -> None:
        self._cache.clear()


class BsdTimestamps:
    """RFC 3164 stamps ("Feb  5 14:34:10", optionally with a year or fraction) -> UTC.

    Year-less stamps get the current year, or the previous one when that would put them more
    than a day in the future (a December line read in January). The cache is dropped when the
    day changes, so the year guess follows the clock.
    """

    __slots__ = ("_tz", "_clock", "_cache", "_day")

    def __init__(self, tz: tzinfo | None, clock: Callable[[], float]):
        self._tz = tz
        self._clock = clock
        self._cache = TimestampCache(self._convert, tz)
        self._day = -1

    def get(self, text: str, now: float | None = None) -> str | None:
        day = int((now if now is not None else self._clock()) // 86400)
        if day != self._day:
            self._day = day
            self._cache.clear()
        return self._cache.get(text)

    def _convert(self, text: str) -> datetime | None:
        parts = text.split()
        month = MONTHS[parts[0]]
        day = int(parts[1])
        if len(parts) == 4:  # "Feb  5 2026 14:34:10"
            year, clock_part = int(parts[2]), parts[3]
        else:
            year, clock_part = None, parts[2]
        hms, _, fraction = clock_part.partition(".")
        hour, minute, second = (int(x) for x in hms.split(":"))
        micro = int((fraction + "000000")[:6]) if fraction else 0
        if year is not None:
            return datetime(year, month, day, hour, minute, second, micro)
        now = datetime.fromtimestamp(self._clock(), UTC)
        candidate = localize(datetime(now.year, month, day, hour, minute, second, micro),
                             self._tz)
        if candidate - now > timedelta(days=1):
            candidate = localize(datetime(now.year - 1, month, day, hour, minute, second,
                                          micro), self._tz)
        return candidate


def iso_timestamp(text: str) -> datetime:
    """ISO 8601 / RFC 3339 (rsyslog, journald, RFC 5424); naive results are left naive."""
    value = text
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value)


# The inside of a double-quoted value with backslash escapes, as an unrolled loop: sre runs
# each `[^"\\]*` as one repeat, where the alternation `(?:[^"\\]|\\.)*` took a branch per
# character (4.0 -> 1.3 us per nginx combined line).
QUOTED_VALUE = r'[^"\\]*(?:\\.[^"\\]*)*'


def classify_address(text: str) -> tuple[str | None, str | None]:
    """(ip, domain) for an address as logs write it: IPv4, IPv6 (also "[v6]"), IPv4-mapped
    IPv6 (reduced to IPv4, as users search for the IPv4 form), or a host name. Invalid IP-like
    strings ("192.030.0.6") and host names come back as the domain, never as an ip, so a
    store with an ip-typed field never rejects the event.

    inet_pton/inet_ntop (strict, and RFC 5952 text, as ipaddress writes it) instead of
    ipaddress, which costs ~5 us per IPv6 address: a scan or a flood brings more distinct
    addresses than any cache holds (1.3 -> 0.25 us per address on bench/ingest.py's corpus)."""
    value = text.strip("[]")
    if not value or value == "-":
        return None, None
    if ":" in value:
        try:
            packed = inet_pton(AF_INET6, value.split("%", 1)[0])
        except (OSError, ValueError):
            return None, value
        canonical = inet_ntop(AF_INET6, packed)
        if "." not in canonical:
            return canonical, None
        # inet_ntop writes IPv4-mapped and -compatible addresses with a dotted tail
        ip = ipaddress.IPv6Address(packed)
        mapped = ip.ipv4_mapped
        return str(mapped if mapped is not None else ip), None
    try:
        inet_pton(AF_INET, value)          # rejects leading zeros, as ipaddress does
    except (OSError, ValueError):
        return None, value
    return value, None


def set_source(event: dict, address: str | None, port: str | int | None = None) -> None:
    """Fill source.address and source.ip or source.domain (and source.port) of an event."""
    if not address:
        return
    ip, domain = classify_address(address)
    if ip is None and domain is None:
        return
    event["source.address"] = ip or domain
    if ip is not None:
        event["source.ip"] = ip
    else:
        event["source.domain"] = domain
    if port:
        try:
            event["source.port"] = int(port)
        except ValueError:
            pass


def base_event(dataset: str, line: str, timestamp: str | None, created: str) -> dict:
    """The common skeleton of a parsed event (what core.events.new_event builds, without its
    per-call keyword handling, which costs more than the rest on this path)."""
    return {
        "@timestamp": timestamp or created,
        "event.created": created,
        "event.id": new_event_id(),
        "event.kind": "event",
        "event.dataset": dataset,
        "event.original": line,
    }


UNPARSED_TAG = "unparsed"


def raw_event(line: str, created: str, *, dataset: str = "shouwang.raw",
              fields: dict | None = None) -> dict:
    """An event for a line no parser recognized: kept whole (event.original, message) and
    tagged, never dropped. `fields` adds what could be read (log.syslog.*, host.hostname)."""
    event = base_event(dataset, line, None, created)
    event["message"] = line
    event["tags"] = [UNPARSED_TAG]
    if fields:
        event.update(fields)
    return event


def is_unparsed(event: dict) -> bool:
    tags = event.get("tags")
    return bool(tags) and UNPARSED_TAG in tags


class LineNormalizer:
    """parse-or-keep: every line becomes an event. Lines the parser does not read become raw
    events (counted in `unparsed`), so nothing a source reads is ever dropped. `context`
    fields (where the line was read: log.file.path, host.name) are added to every event that
    does not already carry them."""

    __slots__ = ("parse", "created", "unparsed", "parsed", "context")

    def __init__(self, parser: Parser, clock: Callable[[], float] = time.time,
                 context: dict | None = None):
        self.parse = parser.parse
        self.created = CreatedClock(clock)
        self.unparsed = 0
        self.parsed = 0
        self.context = tuple((context or {}).items())

    def event(self, line: str) -> dict:
        try:
            event = self.parse(line)
        except Exception as exc:  # a parser bug must not lose the line; it is kept raw
            event = None
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = None
        if event is None:
            self.unparsed += 1
            event = raw_event(line, self.created.now())
            if error:
                event["error.message"] = f"parser failed: {error}"
        else:
            self.parsed += 1
        for key, value in self.context:
            if key not in event:
                event[key] = value
        return event
