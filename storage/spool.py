"""A disk spool in front of a store: writes are accepted while the backend is away.

`SpoolingStore(inner, spool_dir, max_bytes, metrics)` is itself a Store. Contract:
- write() returns only once the batch is stored by the backend or durably spooled (file
  written, fsynced, renamed, directory fsynced), so the pipeline may ack it either way.
- Order: while the spool holds anything, new batches are appended behind it; a background
  task replays spooled batches oldest first and only when the spool is empty do batches go
  to the backend directly again. Events therefore reach the backend in the order accepted.
- Exactly once in effect: a batch file is deleted after the backend accepted it; a crash in
  between replays it again, and the backends ignore events whose event.id they already hold.
- A spool past `max_bytes`, or one that cannot be written (disk full), makes write() raise
  StoreError with a message saying so: the pipeline then waits (backpressure). Nothing is
  dropped silently; a spooled file that cannot be read back is moved to `corrupt/`, counted
  and logged, never deleted.
- Survives restarts: files left by a previous run are replayed first after open().
- search/count_by/apply_retention/ping go to the backend (spooled events become searchable
  once replayed).

On disk: one file per batch, `<sequence:020d>.ndjson`, one orjson event per line.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections import deque
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import Field

from core.components import BuildContext
from core.durable import write_atomic
from core.errors import StoreError, StoreUnavailable
from core.settings import StrictModel
from storage.base import Query, SearchResult

log = logging.getLogger(__name__)

DEFAULT_SPOOL_MAX_BYTES = 1 << 30
RETRY_INITIAL_SECS = 0.1
SUFFIX = ".ndjson"
BACKEND_FAILURES = (StoreError, OSError)


class SpoolSettings(StrictModel):
    max_bytes: int = Field(DEFAULT_SPOOL_MAX_BYTES, ge=4096, description="spool size at which "
                           "writes wait for the store instead (backpressure)")
    retry_max_secs: float = Field(30.0, gt=0, le=3600, description="longest wait between "
                                  "attempts to replay the spool into the store")


class SpoolMetrics:
    """Spool metrics, labelled by store id, on the application's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.bytes = Gauge("shouwang_store_spool_bytes", "Bytes waiting in a store's spool",
                           ["store"], registry=registry)
        self.spooled = Counter("shouwang_store_spooled_batches",
                               "Batches written to the spool because the store was away",
                               ["store"], registry=registry)
        self.replayed = Counter("shouwang_store_replayed_batches",
                                "Spooled batches replayed into the store", ["store"],
                                registry=registry)
        self.corrupt = Counter("shouwang_store_spool_corrupt_batches",
                               "Spooled batches that could not be read back (kept in corrupt/)",
                               ["store"], registry=registry)
        self.backend_up = Gauge("shouwang_store_backend_up",
                                "1 while the store accepts writes, 0 while writes are spooled",
                                ["store"], registry=registry)

    @classmethod
    def of(cls, ctx: BuildContext) -> "SpoolMetrics":
        """The one instance for this application (metric names can be registered once)."""
        metrics = ctx.extras.get("storage.spool_metrics")
        if metrics is None:
            metrics = ctx.extras["storage.spool_metrics"] = cls(ctx.registry)
        return metrics


def _serialize(events: list[dict]) -> bytes:
    dumps = orjson.dumps
    return b"".join([dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
                     for event in events])


class SpoolingStore:
    """A Store that spools batches to disk while `inner` fails (see the module docstring)."""

    def __init__(self, inner, spool_dir: Path, max_bytes: int, metrics: SpoolMetrics, *,
                 retry_max_secs: float = 30.0):
        self.inner = inner
        self.name = inner.name
        self.spool_dir = Path(spool_dir)
        self.max_bytes = max_bytes
        self.retry_max_secs = retry_max_secs
        self._segments: deque[tuple[int, Path, int]] = deque()
        self._bytes = 0
        self._next_seq = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._replayer: asyncio.Task | None = None
        self._inner_open = False
        self.last_error: str | None = None
        self._m_bytes = metrics.bytes.labels(self.name)
        self._m_spooled = metrics.spooled.labels(self.name)
        self._m_replayed = metrics.replayed.labels(self.name)
        self._m_corrupt = metrics.corrupt.labels(self.name)
        self._m_up = metrics.backend_up.labels(self.name)

    @property
    def spooled_bytes(self) -> int:
        return self._bytes

    @property
    def spooled_batches(self) -> int:
        return len(self._segments)

    # -- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        await asyncio.to_thread(self._load)
        try:
            await self._open_inner()
        except StoreUnavailable as exc:
            log.warning("store %s is unavailable (%s); spooling writes to %s until it returns",
                        self.name, exc, self.spool_dir)
        if self._segments:
            log.info("store %s: %d spooled batch(es) (%d bytes) to replay", self.name,
                     len(self._segments), self._bytes)
            self._wake.set()
        self._replayer = asyncio.create_task(self._replay_loop(), name=f"{self.name}-replay")

    def _load(self) -> None:
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            names = sorted(os.listdir(self.spool_dir))
        except OSError as exc:
            raise StoreError(f"cannot use spool directory {self.spool_dir}: {exc.strerror}") \
                from None
        for name in names:
            if name.endswith(SUFFIX) and name[:-len(SUFFIX)].isdigit():
                path = self.spool_dir / name
                size = path.stat().st_size
                self._segments.append((int(name[:-len(SUFFIX)]), path, size))
                self._bytes += size
            elif name.startswith(".") and name.endswith(".tmp"):
                os.unlink(self.spool_dir / name)     # never renamed: never acknowledged
        if self._segments:
            self._next_seq = self._segments[-1][0] + 1
        self._m_bytes.set(self._bytes)

    async def _open_inner(self) -> None:
        try:
            await self.inner.open()
        except StoreUnavailable as exc:
            self._set_up(False, exc)
            raise
        self._inner_open = True
        self._set_up(True)

    async def close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            await asyncio.gather(self._replayer, return_exceptions=True)
            self._replayer = None
        if self._inner_open:
            await self.inner.close()
            self._inner_open = False

    def _set_up(self, up: bool, exc: BaseException | None = None) -> None:
        self._m_up.set(1 if up else 0)
        self.last_error = None if up else f"{type(exc).__name__}: {exc}"

    # -- writing ----------------------------------------------------------------------------
    async def write(self, events: list[dict]) -> None:
        if not events:
            return
        async with self._lock:
            if not self._segments:
                try:
                    if not self._inner_open:
                        await self._open_inner()
                    await self.inner.write(events)
                    self._set_up(True)
                    return
                except BACKEND_FAILURES as exc:
                    self._set_up(False, exc)
                    log.warning("store %s failed (%s); spooling to %s", self.name, exc,
                                self.spool_dir)
            await self._append(events)
            self._wake.set()

    async def _append(self, events: list[dict]) -> None:
        data = _serialize(events)
        if self._bytes + len(data) > self.max_bytes:
            raise StoreError(
                f"spool {self.spool_dir} is full ({self._bytes} bytes held, max_bytes "
                f"{self.max_bytes}) while store {self.name} is failing ({self.last_error}); "
                f"writes wait until the store accepts the spooled events")
        seq = self._next_seq
        path = self.spool_dir / f"{seq:020d}{SUFFIX}"
        try:
            await asyncio.to_thread(self._write_file, path, data)
        except OSError as exc:
            reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
            raise StoreError(
                f"cannot spool {len(events)} events to {self.spool_dir}: {reason}; store "
                f"{self.name} is failing too ({self.last_error}); writes wait") from None
        self._next_seq = seq + 1
        self._segments.append((seq, path, len(data)))
        self._bytes += len(data)
        self._m_bytes.set(self._bytes)
        self._m_spooled.inc()

    def _write_file(self, path: Path, data: bytes) -> None:
        write_atomic(path, data, mode=0o644)

    # -- replay -----------------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        delay = RETRY_INITIAL_SECS
        while True:
            await self._wake.wait()
            while self._segments:
                seq, path, size = self._segments[0]
                try:
                    events = await asyncio.to_thread(self._read_file, path)
                except (OSError, ValueError) as exc:
                    await self._quarantine(path, size, exc)
                    continue
                try:
                    if not self._inner_open:
                        await self._open_inner()
                    await self.inner.write(events)
                except asyncio.CancelledError:
                    raise
                except BACKEND_FAILURES as exc:
                    self._set_up(False, exc)
                    log.info("store %s still failing (%s); next replay in %.1fs", self.name,
                             exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_secs)
                    continue
                delay = RETRY_INITIAL_SECS
                self._set_up(True)
                async with self._lock:
                    await asyncio.to_thread(os.unlink, path)
                    self._forget_head(size)
                    self._m_replayed.inc()
            self._wake.clear()

    @staticmethod
    def _read_file(path: Path) -> list[dict]:
        with open(path, "rb") as stream:
            return [orjson.loads(line) for line in stream.read().splitlines() if line]

    def _forget_head(self, size: int) -> None:
        self._segments.popleft()
        self._bytes -= size
        self._m_bytes.set(self._bytes)

    async def _quarantine(self, path: Path, size: int, exc: BaseException) -> None:
        corrupt_dir = self.spool_dir / "corrupt"
        log.error("spooled batch %s cannot be read back (%s); moved to %s for inspection",
                  path, exc, corrupt_dir)
        try:
            corrupt_dir.mkdir(exist_ok=True)
            os.rename(path, corrupt_dir / path.name)
        except OSError as move_error:
            log.error("cannot move %s aside: %s", path, move_error)
        self._m_corrupt.inc()
        async with self._lock:
            self._forget_head(size)

    async def drained(self, timeout_secs: float = 10.0) -> bool:
        """Wait until the spool is empty (for shutdown and tests); False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout_secs
        while self._segments:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- reading goes to the backend ---------------------------------------------------------
    async def search(self, query: Query) -> SearchResult:
        return await self.inner.search(query)

    async def count_by(self, field_name: str, query: Query, limit: int = 10
                       ) -> list[tuple[str, int]]:
        return await self.inner.count_by(field_name, query, limit)

    async def apply_retention(self, now: float) -> int:
        return await self.inner.apply_retention(now)

    async def ping(self) -> bool:
        return await self.inner.ping()


def wrap_in_spool(component_id: str, store, settings: SpoolSettings, ctx: BuildContext
                  ) -> SpoolingStore:
    """The backend as the application uses it: behind a spool under data_dir/spool/<id>."""
    return SpoolingStore(store, ctx.data_dir / "spool" / component_id, settings.max_bytes,
                         SpoolMetrics.of(ctx), retry_max_secs=settings.retry_max_secs)
