"""The Store contract (storage/base.py), run against every backend.

`store` is parametrized over the backends: sqlite on its own, sqlite as the application builds
it (behind the spool, through SPEC.build), and Elasticsearch when SHOUWANG_TEST_ES_URL points
at a disposable cluster. Test files import this module's tests with `from ... import *`.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from core.components import BuildContext
from core.errors import InputError
from core.events import format_ts, new_event
from core.metrics import PipelineMetrics
from core.registry import Registry
from storage.base import Query

DAY = 86_400
NOW = 1_790_000_000.0          # 2026-09-21, a fixed "now" so day boundaries are predictable
ES_URL = os.environ.get("SHOUWANG_TEST_ES_URL")


def context(tmp_path: Path) -> BuildContext:
    registry = CollectorRegistry()
    return BuildContext(data_dir=tmp_path, registry=registry, metrics=PipelineMetrics(registry),
                        parsers=Registry("format"), hostname="test-host")


async def _sqlite(tmp_path):
    from storage.sqlite import SqliteStore
    return SqliteStore("store", tmp_path / "store"), True


async def _sqlite_spooled(tmp_path):
    from storage import sqlite
    settings = sqlite.SqliteSettings()
    return sqlite.SPEC.build("store", settings, context(tmp_path)), True


async def _elasticsearch(tmp_path):
    from storage import elasticsearch
    settings = elasticsearch.ElasticsearchSettings(
        hosts=[ES_URL], namespace=f"t{uuid.uuid4().hex[:10]}", refresh_on_write=True)
    return elasticsearch.SPEC.build("store", settings, context(tmp_path)), False


BACKENDS = [
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(_sqlite_spooled, id="sqlite-spooled"),
    pytest.param(_elasticsearch, id="elasticsearch", marks=pytest.mark.skipif(
        not ES_URL, reason="set SHOUWANG_TEST_ES_URL to a disposable Elasticsearch to run")),
]


@pytest.fixture(params=BACKENDS)
async def backend(request, tmp_path):
    store, drops_partitions = await request.param(tmp_path)
    await store.open()
    yield store, drops_partitions
    await store.close()


@pytest.fixture
def store(backend):
    return backend[0]


def event(seconds: float, dataset: str = "nginx.access", **fields) -> dict:
    return new_event(dataset, timestamp=format_ts(seconds), created=format_ts(seconds),
                     **fields)


async def all_pages(store, query: Query) -> list[dict]:
    events, cursor = [], query.cursor
    for _ in range(1000):
        page = await store.search(Query(**{**query.__dict__, "cursor": cursor}))
        events.extend(page.events)
        cursor = page.next_cursor
        if cursor is None:
            return events
    raise AssertionError("pagination did not end")


async def test_events_round_trip_unchanged(store):
    original = event(NOW - 60, message="用户 张三 登录失败 from 10.0.0.1 ✓",
                     source__ip="10.0.0.1", http__response__status_code=401,
                     related__ip=["10.0.0.1", "192.0.2.7"], tags=["ssh", "失败"],
                     shouwang__score=0.75, shouwang__flag=True, shouwang__nothing=None,
                     user__name="张三")
    await store.write([original])
    result = await store.search(Query())
    assert result.events == [original]
    assert result.next_cursor is None


async def test_time_range_is_start_inclusive_end_exclusive_newest_first(store):
    events = [event(NOW - offset, message=f"m{offset}") for offset in (30, 20, 10, 0)]
    await store.write(events)
    found = (await store.search(Query(start=NOW - 20, end=NOW))).events
    assert [e["message"] for e in found] == ["m10", "m20"]
    everything = (await store.search(Query())).events
    assert [e["message"] for e in everything] == ["m0", "m10", "m20", "m30"]


async def test_filters_hot_multi_valued_and_other_fields(store):
    await store.write([
        event(NOW - 5, source__ip="10.0.0.1", http__response__status_code=404, url__path="/a"),
        event(NOW - 4, source__ip="10.0.0.2", http__response__status_code=200, url__path="/a"),
        event(NOW - 3, source__ip="10.0.0.3", http__response__status_code=404, url__path="/b"),
        event(NOW - 2, "sshd", source__ip="10.0.0.1", related__ip=["10.9.9.9", "10.0.0.1"]),
    ])

    async def ips(**filters):
        found = (await store.search(Query(filters=filters))).events
        return [e.get("source.ip") for e in found]

    assert await ips(**{"source.ip": ("10.0.0.1",)}) == ["10.0.0.1", "10.0.0.1"]
    assert await ips(**{"source.ip": ("10.0.0.2", "10.0.0.3")}) == ["10.0.0.3", "10.0.0.2"]
    assert await ips(**{"http.response.status_code": ("404",)}) == ["10.0.0.3", "10.0.0.1"]
    assert await ips(**{"url.path": ("/a",), "http.response.status_code": ("404",)}) \
        == ["10.0.0.1"]
    assert await ips(**{"related.ip": ("10.9.9.9",)}) == ["10.0.0.1"]
    assert await ips(**{"event.dataset": ("sshd",)}) == ["10.0.0.1"]
    assert await ips(**{"url.path": ("/nowhere",)}) == []


async def test_address_and_user_filters_over_many_rows_in_time_order(store):
    # Enough rows for several index blocks of the sqlite backend; among them rows whose
    # source.ip or user.name is a list or a number, which must be found like the others.
    events = [event(NOW - 10_000 + i, "sshd", source__ip=f"10.1.{i % 50}.1",
                    user__name=f"user{i % 7}") for i in range(9_000)]
    events[4_000]["source.ip"] = ["10.9.9.9", "10.1.3.1"]
    events[8_990]["user.name"] = 42
    await store.write(events)
    expected = [e["event.id"] for e in reversed(events)
                if e["source.ip"] == "10.1.3.1" or "10.1.3.1" in e["source.ip"]]
    assert len(expected) == 181
    page = await store.search(Query(filters={"source.ip": ("10.1.3.1",)}, limit=5))
    assert [e["event.id"] for e in page.events] == expected[:5]
    found = await all_pages(store, Query(filters={"source.ip": "10.1.3.1"}, limit=50))
    assert [e["event.id"] for e in found] == expected
    in_range = await all_pages(store, Query(filters={"source.ip": "10.1.3.1"}, limit=50,
                                            start=NOW - 6_100, end=NOW - 5_000))
    assert [e["event.id"] for e in in_range] == [
        e["event.id"] for e in reversed(events[3_900:5_000])
        if e["source.ip"] == "10.1.3.1" or "10.1.3.1" in e["source.ip"]]
    assert [e["event.id"] for e in (await store.search(
        Query(filters={"user.name": "42"}))).events] == [events[8_990]["event.id"]]
    both = await all_pages(store, Query(filters={"user.name": "user3", "source.ip": "10.1.3.1"}))
    assert [e["event.id"] for e in both] == [
        e["event.id"] for e in reversed(events) if e["user.name"] == "user3"
        and (e["source.ip"] == "10.1.3.1" or "10.1.3.1" in e["source.ip"])]


async def test_full_text_matches_words_and_user_syntax_never_errors(store):
    await store.write([
        event(NOW - 3, message="Failed password for root from 203.0.113.9 port 22"),
        event(NOW - 2, message="Accepted password for alice from 198.51.100.4"),
        event(NOW - 1, message="GET /login.php?id=1 UNION SELECT"),
    ])

    async def messages(text, **extra):
        return [e["message"] for e in (await store.search(Query(text=text, **extra))).events]

    assert await messages("password root") == [
        "Failed password for root from 203.0.113.9 port 22"]
    assert len(await messages("PASSWORD")) == 2
    assert await messages("union") == ["GET /login.php?id=1 UNION SELECT"]
    for hostile in ('"unbalanced', "AND OR NOT", "pass*", "message:root", "( )", "-", "NEAR(",
                    "^", "'; DROP TABLE events; --"):
        assert isinstance(await messages(hostile), list)
    assert len(await messages("   ")) == 3          # no words: no text condition


async def test_events_without_message_are_found_by_their_original_line(store):
    # access-log events carry no `message`, only `event.original`
    line = ('203.0.113.7 - - [25/Nov/2026:14:25:43 +0800] "GET /wp-login.php HTTP/1.1" 404 '
            '153 "-" "Mozilla/5.0"')
    access = event(NOW - 10, source__ip="203.0.113.7")
    access.pop("message", None)
    access["event.original"] = line
    other = event(NOW - 5, message="Accepted publickey for deploy from 198.51.100.2")
    await store.write([access, other])
    found = await store.search(Query(text="wp-login.php", limit=10))
    assert [e["event.original"] for e in found.events] == [line]
    assert "message" not in found.events[0]           # stored as it came, nothing added
    found = await store.search(Query(text="publickey deploy", limit=10))
    assert [e["message"] for e in found.events] == [other["message"]]


async def test_cursor_pages_have_no_duplicates_or_gaps(store):
    # 3 days, many events sharing a timestamp (ties must be ordered too).
    events = [event(NOW - DAY * (i % 3) - (i // 6), message=f"e{i}") for i in range(120)]
    await store.write(events)
    query = Query(limit=7)
    first = await store.search(query)
    await store.write([event(NOW + 10, message="arrived later")])   # must not shift pages
    rest = await all_pages(store, Query(limit=7, cursor=first.next_cursor))
    got = [e["event.id"] for e in first.events + rest]
    assert len(got) == len(set(got)) == 120
    expected = sorted(events, key=lambda e: e["@timestamp"], reverse=True)
    assert [e["@timestamp"] for e in first.events + rest] == [e["@timestamp"] for e in expected]


async def test_bad_cursor_and_limit_are_input_errors(store):
    with pytest.raises(InputError, match="cursor"):
        await store.search(Query(cursor="not-a-cursor"))
    with pytest.raises(InputError, match="limit"):
        await store.search(Query(limit=0))


async def test_count_by_largest_first(store):
    await store.write(
        [event(NOW - i, source__ip="10.0.0.1", url__path="/a") for i in range(5)]
        + [event(NOW - 10 - i, source__ip="10.0.0.2", url__path="/b") for i in range(3)]
        + [event(NOW - 20, source__ip="10.0.0.3")])
    assert await store.count_by("source.ip", Query()) == [
        ("10.0.0.1", 5), ("10.0.0.2", 3), ("10.0.0.3", 1)]
    assert await store.count_by("source.ip", Query(), limit=1) == [("10.0.0.1", 5)]
    assert await store.count_by("url.path", Query(start=NOW - 11)) == [("/a", 5), ("/b", 2)]


async def test_same_event_written_twice_is_stored_once(store):
    batch = [event(NOW - i, message=f"dup {i}") for i in range(3)]
    await store.write(batch)
    await store.write(batch)            # a replay after a crash
    assert len((await store.search(Query())).events) == 3


async def test_retention_drops_whole_old_partitions_and_keeps_newer(backend):
    store, drops_partitions = backend
    if not drops_partitions:
        pytest.skip("retention is the engine's job here (ILM)")
    ages = (200, 181, 179, 1)
    await store.write([event(NOW - DAY * age, message=f"age{age}") for age in ages])
    assert await store.apply_retention(NOW) == 2
    kept = [e["message"] for e in (await store.search(Query())).events]
    assert kept == ["age1", "age179"]
    assert await store.apply_retention(NOW) == 0
