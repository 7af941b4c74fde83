"""The agent pipeline's only sink: each batch of events goes into the spool, compressed.

`write` returns once the batch is durable in the spool, so the pipeline acks the sources
(file offsets) only then: a kill -9 of the agent loses nothing. When the spool had to evict,
an event saying what was lost (a pipeline_error of component `agent_spool`, stage `evict`)
is spooled right behind the batch, and the eviction metrics count it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from collectors.agent.codec import encode_batch
from collectors.agent.metrics import AgentMetrics
from collectors.agent.spool import BatchSpool, Eviction
from core.events import pipeline_error_event

log = logging.getLogger(__name__)

SINK_NAME = "agent_spool"


class SpoolSink:
    name = SINK_NAME

    def __init__(self, spool: BatchSpool, metrics: AgentMetrics, *, agent_id: str,
                 compression_level: int = 3, on_append: Callable[[], None] | None = None):
        self.spool = spool
        self.metrics = metrics
        self.agent_id = agent_id
        self.level = compression_level
        self._on_append = on_append or (lambda: None)

    async def write(self, events: list[dict]) -> None:
        # Compression and fsync block: a worker thread keeps the sources running meanwhile.
        eviction = await asyncio.to_thread(self._append, events)
        while eviction is not None:
            self.metrics.evicted_batches.inc(eviction.batches)
            self.metrics.evicted_events.inc(eviction.events)
            log.error("agent spool full (max_bytes %d): evicted %d batch(es), %d events, "
                      "never shipped", self.spool.max_bytes, eviction.batches, eviction.events)
            eviction = await asyncio.to_thread(self._append, [self._eviction_event(eviction)])
        self._on_append()

    def _append(self, events: list[dict]) -> Eviction | None:
        return self.spool.append(encode_batch(events, self.level), len(events))

    def _eviction_event(self, eviction: Eviction) -> dict:
        return pipeline_error_event(
            SINK_NAME, "evict",
            f"spool full (max_bytes {self.spool.max_bytes}) while no server answered: "
            f"{eviction.events} events in {eviction.batches} batch(es) evicted, never shipped",
            agent__id=self.agent_id,
            shouwang__agent__evicted_events=eviction.events,
            shouwang__agent__evicted_batches=eviction.batches,
            shouwang__agent__evicted_bytes=eviction.bytes,
        )
