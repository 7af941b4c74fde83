"""Turning events into SQLite rows: the hot path of every write (keep it lean).

A row is (ts_us, <hot columns...>, message, irregular, doc):
- ts_us: @timestamp as integer microseconds since the epoch (UTC); it picks the partition
  (one per UTC day) and, with the rowid, orders results.
- hot columns: string values of the fields in HOT_FIELDS, indexed or at least read without
  parsing JSON. A hot field holding anything but a string (a list, a number) leaves its column
  NULL and sets `irregular` = 1, so filters fall back to the JSON document for that row only.
- message: the `message` string (or `event.original` when there is no message), indexed by
  FTS5 once per batch.
- doc: the whole event as orjson bytes, unchanged (round-trips exactly, unicode included).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import orjson

from core.events import event_epoch

# (column, ECS field). Order matters: it is the column order of INSERT_SQL.
HOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("event_id", "event.id"),
    ("dataset", "event.dataset"),
    ("kind", "event.kind"),
    ("action", "event.action"),
    ("outcome", "event.outcome"),
    ("source_ip", "source.ip"),
    ("destination_ip", "destination.ip"),
    ("host_name", "host.name"),
    ("user_name", "user.name"),
)
HOT_COLUMN = {field: column for column, field in HOT_FIELDS}
_HOT_KEYS = tuple(field for _, field in HOT_FIELDS)
_PLAIN_TYPES = frozenset((str, type(None)))

US_PER_SEC = 1_000_000
US_PER_DAY = 86_400 * US_PER_SEC

# orjson options: unknown types (bytes, sets, datetimes from a careless parser) become strings
# rather than failing the whole batch; non-string keys are tolerated for the same reason.
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS


def _lenient(value):
    return str(value)


class TimestampParser:
    """@timestamp -> epoch microseconds, with caches of whole strings and of whole seconds.

    Log lines mostly have whole-second stamps, so the events of a batch share a few strings;
    our own timestamps all look like "2026-11-25T14:25:43.123456Z", whose second is cached.
    Anything else goes through core.events.event_epoch (offsets, naive times, numbers).
    """

    CACHE_MAX = 4096

    def __init__(self):
        self._exact: dict[str, int] = {}
        self._seconds: dict[str, int] = {}

    def __call__(self, event: dict) -> int:
        text = event.get("@timestamp")
        try:
            return self._exact[text]
        except (KeyError, TypeError):       # TypeError: not a string (a list is unhashable)
            pass
        if type(text) is str and len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
            head = text[:19]
            base = self._seconds.get(head)
            if base is None:
                base = self._parse_head(head)
            if base is not None:
                if len(text) == 20:
                    return self._remember(text, base)
                if text[19] == ".":
                    digits = text[20:-1]
                    if digits.isdigit() and len(digits) <= 9:
                        return self._remember(text, base + int(digits[:6].ljust(6, "0")))
        return round(event_epoch(event) * US_PER_SEC)

    def _remember(self, text: str, ts_us: int) -> int:
        if len(self._exact) >= self.CACHE_MAX:
            self._exact.clear()
        self._exact[text] = ts_us
        return ts_us

    def _parse_head(self, head: str) -> int | None:
        try:
            moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        if len(self._seconds) >= self.CACHE_MAX:
            self._seconds.clear()
        base = int(moment.timestamp()) * US_PER_SEC
        self._seconds[head] = base
        return base


def split_by_day(events: list[dict], parse_ts: TimestampParser
                 ) -> list[tuple[int, list[int], list[dict]]]:
    """(UTC day number, @timestamp of each event in microseconds, events) per day, days in
    ascending order. A batch nearly always falls on one day: then `events` is not copied."""
    stamps = list(map(parse_ts, events))
    if not stamps:
        return []
    first, last = min(stamps) // US_PER_DAY, max(stamps) // US_PER_DAY
    if first == last:
        return [(first, stamps, events)]
    days: dict[int, tuple[list[int], list[dict]]] = {}
    for ts_us, event in zip(stamps, events):
        day_stamps, day_events = days.setdefault(ts_us // US_PER_DAY, ([], []))
        day_stamps.append(ts_us)
        day_events.append(event)
    return [(day, *days[day]) for day in sorted(days)]


def encode_rows(stamps: list[int], events: list[dict]) -> list[tuple]:
    """The rows of `events`, whose @timestamps (microseconds) are `stamps`."""
    dumps = orjson.dumps
    hot_keys = _HOT_KEYS
    plain_types = _PLAIN_TYPES
    rows = []
    for ts_us, event in zip(stamps, events):
        hot = list(map(event.get, hot_keys))
        irregular = 0
        if not plain_types.issuperset(map(type, hot)):      # rare: a list, a number...
            irregular = 1
            hot = [value if type(value) is str else None for value in hot]
        # Full text covers the raw line when a parser leaves no message (access logs).
        message = event.get("message") or event.get("event.original")
        if message is not None and type(message) is not str:
            message = str(message)
        try:
            doc = dumps(event, default=_lenient, option=_DUMPS_OPTIONS)
        except TypeError:
            doc = _dump_beyond_orjson(event)
        rows.append((ts_us, *hot, message, irregular, doc))
    return rows


def _dump_beyond_orjson(event: dict) -> bytes:
    """What orjson refuses (integers beyond 64 bits, nesting deeper than 254 levels, both
    possible in a JSON line) is still stored: through the standard library, or failing that
    with such values as text. A batch must never be refused for one event's content."""
    try:
        return json.dumps(event, default=str, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):
        return orjson.dumps({key: value if type(value) is str else repr(value)
                             for key, value in event.items()}, option=_DUMPS_OPTIONS)
