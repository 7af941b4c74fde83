"""The event pipeline: sources -> one bounded queue -> batches -> sinks -> hooks.

Built once at start from the configuration. Guarantees:
- Backpressure blocks: `Emitter.emit` waits while the queue is full. Only `emit_nowait`, meant
  for telemetry, may drop, and it counts what it drops (dropped{reason="queue_full"}).
- A source's `ack` callback runs only after every sink has accepted the batch holding its
  events, in the order the source emitted them; file sources checkpoint offsets there, so a
  crash repeats at most the batch in flight and loses nothing. An ack may return an
  awaitable (a checkpoint being written off the event loop): the next batch is written only
  once it is done, while sources go on reading.
- A failing sink is retried with capped exponential backoff and blocks the pipeline meanwhile
  (storage backends spool to disk on their own, so this only happens when even that fails).
- Hooks (where detectors attach) see each batch once, while the sinks write it; a hook's
  error is counted and logged and never stops storage.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol, runtime_checkable

from core.events import pipeline_error_event
from core.metrics import PipelineMetrics

log = logging.getLogger(__name__)

Ack = Callable[[], Awaitable[None] | None]

DEFAULT_QUEUE_MAX_EVENTS = 20_000
DEFAULT_BATCH_MAX_EVENTS = 2_000
DEFAULT_BATCH_MAX_WAIT_SECS = 0.05
SINK_RETRY_MAX_SECS = 30.0


@runtime_checkable
class Source(Protocol):
    """Produces events until cancelled."""

    id: str

    def describe(self) -> list[str]:
        """What it watches, for the start banner and /readyz ("file /var/log/auth.log")."""

    async def run(self, emitter: "Emitter") -> None:
        """Emit events until cancelled; return early only on a fatal error (which is raised)."""


@runtime_checkable
class Sink(Protocol):
    """Accepts batches; raising means 'not accepted' and the batch will be offered again."""

    name: str

    async def write(self, events: list[dict]) -> None: ...


Hook = Callable[[list[dict]], Awaitable[None] | None]


@dataclass
class _Item:
    source_id: str
    events: list[dict]
    ack: Ack | None


class EventQueue:
    """A FIFO bounded by the number of events it holds (not items)."""

    def __init__(self, max_events: int):
        self.max_events = max_events
        self.size = 0
        self._items: deque[_Item] = deque()
        self._changed = asyncio.Condition()
        self._wake_task: asyncio.Task | None = None

    def has_room(self, count: int) -> bool:
        # An item larger than the whole queue is still let in when the queue is empty.
        return self.size == 0 or self.size + count <= self.max_events

    async def put(self, item: _Item) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.has_room(len(item.events)))
            self._items.append(item)
            self.size += len(item.events)
            self._changed.notify_all()

    def put_nowait(self, item: _Item) -> bool:
        if not self.has_room(len(item.events)):
            return False
        self._items.append(item)
        self.size += len(item.events)
        self._wake_takers()
        return True

    def _wake_takers(self) -> None:
        # A Condition is notified under its lock, which a sync caller cannot take: a task does
        # it. Without this, events queued only by emit_nowait would wait for some other emit().
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first take() finds the items without waiting
        if self._wake_task is None or self._wake_task.done():
            self._wake_task = loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def take(self, max_events: int, max_wait_secs: float) -> list[_Item]:
        """Items adding up to about `max_events`, waiting at most `max_wait_secs` for more
        once the first one is there."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.size > 0 or bool(self._items))
        deadline = time.monotonic() + max_wait_secs
        taken: list[_Item] = []
        count = 0
        while True:
            while self._items and (not taken or count + len(self._items[0].events) <= max_events):
                item = self._items.popleft()
                self.size -= len(item.events)
                count += len(item.events)
                taken.append(item)
            if count >= max_events or (self._items and taken):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            async with self._changed:
                self._changed.notify_all()
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._items)),
                                           remaining)
                except TimeoutError:
                    break
        async with self._changed:
            self._changed.notify_all()
        return taken


class Emitter:
    """What a source uses to hand events to the pipeline."""

    def __init__(self, pipeline: "Pipeline", source_id: str):
        self._pipeline = pipeline
        self.source_id = source_id
        self._received = pipeline.metrics.received.labels(source_id)
        self._dropped = pipeline.metrics.dropped.labels(source_id, "queue_full")

    async def emit(self, events: list[dict], ack: Ack | None = None) -> None:
        """Queue events, waiting while the queue is full. `ack` runs once they are stored."""
        if not events and ack is None:
            return
        self._received.inc(len(events))
        await self._pipeline.queue.put(_Item(self.source_id, events, ack))
        self._pipeline.metrics.queue_depth.set(self._pipeline.queue.size)

    def emit_nowait(self, events: list[dict]) -> bool:
        """Queue telemetry without waiting; drops (and counts) it when the queue is full."""
        self._received.inc(len(events))
        if self._pipeline.queue.put_nowait(_Item(self.source_id, events, None)):
            self._pipeline.metrics.queue_depth.set(self._pipeline.queue.size)
            return True
        self._dropped.inc(len(events))
        return False

    def error(self, stage: str, reason: str, *, original: str | None = None, **fields) -> dict:
        """Count an error of this source and build its pipeline_error event (to be emitted)."""
        self._pipeline.metrics.errors.labels(self.source_id, stage).inc()
        return pipeline_error_event(self.source_id, stage, reason, original=original, **fields)

    @property
    def metrics(self) -> PipelineMetrics:
        return self._pipeline.metrics


@dataclass
class SourceState:
    source: Source
    task: asyncio.Task | None = None
    error: str | None = None
    running: bool = False


@dataclass
class Pipeline:
    """Runs sources, batches their events into sinks, then hands batches to hooks."""

    sources: list[Source]
    sinks: list[Sink]
    metrics: PipelineMetrics
    hooks: list[Hook] = field(default_factory=list)
    queue_max_events: int = DEFAULT_QUEUE_MAX_EVENTS
    batch_max_events: int = DEFAULT_BATCH_MAX_EVENTS
    batch_max_wait_secs: float = DEFAULT_BATCH_MAX_WAIT_SECS

    def __post_init__(self):
        self.queue = EventQueue(self.queue_max_events)
        self.metrics.queue_capacity.set(self.queue_max_events)
        self.states: dict[str, SourceState] = {s.id: SourceState(s) for s in self.sources}
        self._batcher: asyncio.Task | None = None
        self._in_flight = False
        self.batches_written = 0

    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def emitter(self, source_id: str) -> Emitter:
        return Emitter(self, source_id)

    async def start(self) -> None:
        self._batcher = asyncio.create_task(self._batch_loop(), name="pipeline-batcher")
        for state in self.states.values():
            state.task = asyncio.create_task(self._run_source(state),
                                             name=f"source-{state.source.id}")

    async def _run_source(self, state: SourceState) -> None:
        source = state.source
        emitter = self.emitter(source.id)
        state.running = True
        self.metrics.source_up.labels(source.id).set(1)
        try:
            await source.run(emitter)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source failing must not take the others down
            state.error = f"{type(exc).__name__}: {exc}"
            log.exception("source %s stopped", source.id)
            self.metrics.errors.labels(source.id, "run").inc()
            try:
                await emitter.emit([pipeline_error_event(source.id, "run", state.error)])
            except Exception:
                pass
        finally:
            state.running = False
            self.metrics.source_up.labels(source.id).set(0)

    async def stop(self, *, drain_secs: float = 10.0) -> None:
        """Stop the sources, then write what is queued (bounded by `drain_secs`)."""
        for state in self.states.values():
            if state.task:
                state.task.cancel()
        await asyncio.gather(*(s.task for s in self.states.values() if s.task),
                             return_exceptions=True)
        deadline = time.monotonic() + drain_secs
        # Wait for the queue to empty and for the batch already taken to be written and acked.
        while (self.queue.size or self._in_flight) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._batcher:
            self._batcher.cancel()
            await asyncio.gather(self._batcher, return_exceptions=True)

    async def _batch_loop(self) -> None:
        while True:
            items = await self.queue.take(self.batch_max_events, self.batch_max_wait_secs)
            self.metrics.queue_depth.set(self.queue.size)
            if not items:
                continue
            self._in_flight = True
            events = [event for item in items for event in item.events]
            # Hooks (detection) run while the sinks write (SQLite works in its own thread): a
            # finding does not wait for the store, and what a hook writes to the same store
            # is queued behind this batch.
            hooks = (asyncio.ensure_future(self._run_hooks(events))
                     if events and self.hooks else None)
            try:
                if events:
                    await self._write_until_accepted(events)
                await self._acknowledge(items)
                self.batches_written += 1
            finally:
                if hooks is not None:
                    await hooks
                self._in_flight = False     # stop() waits for the findings of this batch too

    async def _acknowledge(self, items: list[_Item]) -> None:
        pending = []
        for item in items:
            if item.ack is not None:
                try:
                    result = item.ack()
                except Exception:
                    log.exception("ack of source %s failed", item.source_id)
                    self.metrics.errors.labels(item.source_id, "ack").inc()
                    continue
                if result is not None and result not in pending:
                    pending.append(result)
        if pending:
            await asyncio.gather(*pending)

    async def _write_until_accepted(self, events: list[dict]) -> None:
        self.metrics.batch_size.observe(len(events))
        for sink in self.sinks:
            delay = 0.1
            while True:
                started = time.perf_counter()
                try:
                    await sink.write(events)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.metrics.errors.labels(sink.name, "write").inc()
                    log.warning("sink %s refused a batch of %d events (%s); retrying in %.1fs",
                                sink.name, len(events), exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, SINK_RETRY_MAX_SECS)
                    continue
                self.metrics.batch_latency.labels(sink.name).observe(time.perf_counter() - started)
                self.metrics.sent.labels(sink.name).inc(len(events))
                break

    async def _run_hooks(self, events: list[dict]) -> None:
        for hook in self.hooks:
            name = getattr(hook, "__name__", type(hook).__name__)
            try:
                result = hook(events)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("hook %s failed on a batch", name)
                self.metrics.errors.labels(name, "hook").inc()
