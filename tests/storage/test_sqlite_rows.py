"""Events -> SQLite rows: timestamps (cached per string and per second) and hot columns."""
from core.events import parse_ts
from storage.sqlite_rows import US_PER_DAY, TimestampParser, encode_rows, split_by_day


def test_timestamps_are_the_same_from_the_caches_as_parsed():
    parse = TimestampParser()
    stamps = ["2026-11-25T14:25:43Z", "2026-11-25T14:25:43.5Z", "2026-11-25T14:25:43.123456Z",
              "2026-11-25T14:25:43.123456789Z", "2026-11-25T22:25:43+08:00",
              "2026-11-25T14:25:43.000001Z"]
    for _ in range(2):                          # the second round is served from the caches
        for stamp in stamps:
            assert parse({"@timestamp": stamp}) == round(parse_ts(stamp) * 1_000_000), stamp
    # not a string: read as event_epoch reads it, and never cached by a hash it has not got
    assert parse({"@timestamp": 1764080743}) == 1764080743 * 1_000_000


def test_rows_are_grouped_by_utc_day_and_hot_fields_only_hold_strings():
    events = [{"@timestamp": "2026-11-25T23:59:59.999999Z", "event.id": "a",
               "source.ip": "203.0.113.9", "message": "m"},
              {"@timestamp": "2026-11-26T00:00:00Z", "event.id": "b",
               "source.ip": ["203.0.113.9", "::1"], "event.original": "raw line"}]
    by_day = {day: encode_rows(stamps, day_events)
              for day, stamps, day_events in split_by_day(events, TimestampParser())}
    first_day, second_day = sorted(by_day)
    assert second_day - first_day == 1 and by_day[first_day][0][0] // US_PER_DAY == first_day
    (regular,), (irregular,) = by_day[first_day], by_day[second_day]
    assert regular[6] == "203.0.113.9" and regular[-2] == 0 and regular[-3] == "m"
    # a list in a hot field: the column stays empty, the row is marked, the document keeps it
    assert irregular[6] is None and irregular[-2] == 1 and irregular[-3] == "raw line"


async def test_values_orjson_refuses_are_stored_not_a_refused_batch(tmp_path):
    """A JSON line may hold an integer beyond 64 bits or nesting deeper than orjson writes:
    the batch is stored whole (a refused batch would be retried forever), the value kept."""
    from storage.base import Query
    from storage.sqlite import SqliteStore
    from tests.storage.contract import NOW, event

    deep: list = []
    inner = deep
    for _ in range(300):
        inner.append([])
        inner = inner[0]
    store = SqliteStore("store", tmp_path / "store")
    await store.open()
    await store.write([event(NOW - 2, message="huge", **{"labels.n": 2 ** 70}),
                       event(NOW - 1, message="deep", **{"labels.deep": deep}),
                       event(NOW, message="plain")])
    found = {e["message"]: e for e in (await store.search(Query(limit=10))).events}
    assert sorted(found) == ["deep", "huge", "plain"]
    assert found["huge"]["labels.n"] == 2 ** 70
    assert str(found["deep"]["labels.deep"]).count("[") == 301
    await store.close()
