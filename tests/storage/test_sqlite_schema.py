"""Partitions written by an older schema are upgraded when the store opens, and their events
stay searchable through the new indexes."""
from __future__ import annotations

import sqlite3

from storage.base import Query
from storage.sqlite import SqliteStore
from storage.sqlite_partition import SCHEMA_VERSION, list_partitions
from tests.storage.contract import NOW, event


def _indexes(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'events_%'")}


async def test_schema_1_partition_is_upgraded_at_open(tmp_path):
    store = SqliteStore("store", tmp_path / "store")
    await store.open()
    await store.write([event(NOW - 60, "sshd", source__ip="203.0.113.9", user__name="root"),
                       event(NOW - 30, "sshd", source__ip=["203.0.113.9", "10.0.0.1"])])
    await store.close()
    [path] = list_partitions(tmp_path / "store").values()
    with sqlite3.connect(path) as conn:       # what schema 1 looked like
        for name in ("events_source_ip_block", "events_destination_ip_block",
                     "events_user_name_block", "events_irregular"):
            conn.execute(f"DROP INDEX {name}")
        conn.execute("CREATE INDEX events_source_ip_ts ON events(source_ip, ts)")
        conn.execute("PRAGMA user_version = 1")

    store = SqliteStore("store", tmp_path / "store")
    await store.open()
    found = await store.search(Query(filters={"source.ip": "203.0.113.9"}))
    await store.close()
    assert len(found.events) == 2
    assert "events_source_ip_ts" not in _indexes(path)
    assert {"events_source_ip_block", "events_irregular"} <= _indexes(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
