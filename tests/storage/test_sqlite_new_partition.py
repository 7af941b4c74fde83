"""A sqlite partition caught between its creation and its schema reads as empty."""
from __future__ import annotations

from storage.base import Query
from storage.sqlite import SqliteStore
from tests.storage.contract import NOW, event


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
