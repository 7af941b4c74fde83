"""Full-text search on what users search for: access-log lines carry no `message`, only
`event.original`, and must still be found by their text."""
from __future__ import annotations

from storage.base import Query
from storage.sqlite import SqliteStore
from tests.storage.contract import NOW, event


async def test_events_without_message_are_found_by_their_original_line(tmp_path):
    store = SqliteStore("store", tmp_path / "store")
    await store.open()
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
    await store.close()


async def test_a_partition_created_but_not_yet_initialised_reads_as_empty(tmp_path):
    """The writer creates a new day's file an instant before its schema: a search that
    lands in between must find nothing there, not fail."""
    import sqlite3
    import time as clock

    store = SqliteStore("store", tmp_path / "store")
    await store.open()
    await store.write([event(NOW - 86_400 * 2, message="older day")])
    day = clock.strftime("%Y-%m-%d", clock.gmtime(NOW))
    sqlite3.connect(tmp_path / "store" / f"events-{day}.db").close()     # empty file
    found = await store.search(Query(limit=10))
    assert [e["message"] for e in found.events] == ["older day"]
    await store.close()
