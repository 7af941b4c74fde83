"""SpoolingStore: the backend goes away and comes back; the process restarts; the spool fills."""
from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from core.errors import StoreError, StoreUnavailable
from storage.spool import SpoolingStore, SpoolMetrics


class FlakyStore:
    """A backend that records accepted batches and fails while `up` is False."""

    def __init__(self, up: bool = True):
        self.name = "store"
        self.up = up
        self.batches: list[list[dict]] = []

    async def open(self):
        if not self.up:
            raise StoreUnavailable("connection refused")

    async def close(self):
        pass

    async def write(self, events):
        if not self.up:
            raise StoreUnavailable("connection refused")
        self.batches.append(events)

    async def ping(self):
        return self.up


def batch(number: int, size: int = 3) -> list[dict]:
    return [{"event.id": f"b{number}-{i}", "message": f"batch {number} event {i} 守望"}
            for i in range(size)]


def spool(backend, tmp_path, registry=None, max_bytes=1 << 20):
    registry = registry or CollectorRegistry()
    store = SpoolingStore(backend, tmp_path / "spool", max_bytes, SpoolMetrics(registry),
                          retry_max_secs=0.05)
    return store, registry


def metric(registry, name):
    return registry.get_sample_value(name, {"store": "store"})


async def test_backend_down_spools_then_replays_in_order_exactly_once(tmp_path):
    backend = FlakyStore(up=True)
    store, registry = spool(backend, tmp_path)
    await store.open()
    await store.write(batch(0))
    backend.up = False
    for number in (1, 2, 3):
        await store.write(batch(number))          # returns: accepted into the spool
    assert store.spooled_batches == 3
    assert metric(registry, "shouwang_store_backend_up") == 0
    assert metric(registry, "shouwang_store_spool_bytes") > 0
    backend.up = True
    await store.write(batch(4))                   # newer: must queue behind the spool
    assert await store.drained(5)
    await store.write(batch(5))                   # spool empty again: goes direct
    assert backend.batches == [batch(n) for n in range(6)]
    assert metric(registry, "shouwang_store_spooled_batches_total") == 4
    assert metric(registry, "shouwang_store_replayed_batches_total") == 4
    assert metric(registry, "shouwang_store_backend_up") == 1
    assert metric(registry, "shouwang_store_spool_bytes") == 0
    assert not list((tmp_path / "spool").glob("*.ndjson"))
    await store.close()


async def test_batches_spooled_before_a_restart_are_replayed_after_it(tmp_path):
    backend = FlakyStore(up=False)
    store, _ = spool(backend, tmp_path)
    await store.open()                            # unreachable at start: still opens
    for number in range(3):
        await store.write(batch(number))
    await store.close()                           # the process stops with a full spool

    revived = FlakyStore(up=True)
    store, _ = spool(revived, tmp_path)
    await store.open()
    await store.write(batch(3))
    assert await store.drained(5)
    assert revived.batches == [batch(n) for n in range(4)]
    await store.close()


async def test_full_spool_refuses_with_a_clear_error_and_keeps_what_it_has(tmp_path):
    backend = FlakyStore(up=False)
    store, _ = spool(backend, tmp_path, max_bytes=4096)
    await store.open()
    big = [{"event.id": str(i), "message": "x" * 300} for i in range(8)]
    await store.write(big)
    with pytest.raises(StoreError, match=r"spool .* is full .*connection refused"):
        await store.write(big)
    backend.up = True
    assert await store.drained(5)
    assert backend.batches == [big]
    await store.close()


async def test_unreadable_spool_file_is_moved_aside_not_lost(tmp_path):
    backend = FlakyStore(up=False)
    store, registry = spool(backend, tmp_path)
    await store.open()
    await store.write(batch(0))
    await store.write(batch(1))
    first = sorted((tmp_path / "spool").glob("*.ndjson"))[0]
    first.write_bytes(b"{not json\n")
    backend.up = True
    assert await store.drained(5)
    assert backend.batches == [batch(1)]
    assert (tmp_path / "spool" / "corrupt" / first.name).exists()
    assert metric(registry, "shouwang_store_spool_corrupt_batches_total") == 1
    await store.close()


async def test_slow_backend_does_not_reorder_concurrent_writes(tmp_path):
    backend = FlakyStore(up=False)
    store, _ = spool(backend, tmp_path)
    await store.open()
    await asyncio.gather(*(store.write(batch(n)) for n in range(5)))
    backend.up = True
    assert await store.drained(5)
    assert backend.batches == [batch(n) for n in range(5)]
    await store.close()
