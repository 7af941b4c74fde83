"""The sqlite store on a full disk and with a corrupt file: clear errors, nothing accepted lost."""
from __future__ import annotations

import os
import subprocess

import pytest
from prometheus_client import CollectorRegistry

from core.errors import StoreError
from storage.base import Query
from storage.spool import SpoolingStore, SpoolMetrics
from storage.sqlite import SqliteStore
from tests.storage.contract import NOW, event


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs: a real ENOSPC from the kernel."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 1 MiB tmpfs")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def noisy_batch(start: int, count: int = 200) -> list[dict]:
    return [event(NOW - 100 + (start + i) * 0.001, message=os.urandom(200).hex(),
                  source__ip="10.0.0.1") for i in range(count)]


async def test_disk_full_is_a_clear_error_and_earlier_events_stay(tiny_disk):
    store = SqliteStore("store", tiny_disk / "store")
    await store.open()
    accepted = []
    with pytest.raises(StoreError, match="disk full") as raised:
        for number in range(100):
            batch = noisy_batch(number * 200)
            await store.write(batch)
            accepted.extend(batch)
    assert str(tiny_disk / "store") in str(raised.value)
    assert accepted, "the disk filled before a single batch was stored"
    found = (await store.search(Query(limit=10_000))).events
    assert {e["event.id"] for e in found} == {e["event.id"] for e in accepted}
    await store.close()


async def test_spool_on_a_full_disk_refuses_and_keeps_what_it_accepted(tiny_disk, tmp_path):
    backend = SqliteStore("store", tmp_path / "store")
    spool = SpoolingStore(backend, tiny_disk / "spool", 1 << 30,
                          SpoolMetrics(CollectorRegistry()), retry_max_secs=0.05)
    accepted = []
    await spool.open()
    await backend.close()            # a closed store refuses writes: the backend is "down"
    with pytest.raises(StoreError, match="cannot spool .* disk full"):
        for number in range(100):
            batch = noisy_batch(number * 200)
            await spool.write(batch)
            accepted.extend(batch)
    assert accepted
    assert not list((tiny_disk / "spool").glob(".*.tmp")), "a partial file was left behind"
    await backend.open()             # the backend returns: everything accepted is replayed
    assert await spool.drained(10)
    found = (await backend.search(Query(limit=10_000))).events
    assert {e["event.id"] for e in found} == {e["event.id"] for e in accepted}
    await spool.close()


async def test_corrupt_partition_is_named_in_a_clear_error(tmp_path):
    store = SqliteStore("store", tmp_path / "store")
    await store.open()
    await store.write([event(NOW, message="before the damage")])
    await store.close()
    path = next((tmp_path / "store").glob("events-*.db"))
    path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.unlink(f"{path}{suffix}")
    damaged = SqliteStore("store", tmp_path / "store")
    with pytest.raises(StoreError, match=f"{path.name} is not a readable SQLite database.*move "
                                         f"it aside"):
        await damaged.open()
    await damaged.close()


async def test_unwritable_store_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store directory should be")
    store = SqliteStore("store", blocker / "store")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        await store.open()
    await store.close()
