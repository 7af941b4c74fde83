"""Test doubles for running a source: an emitter that collects events and acks (or not)."""
from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from core.components import BuildContext
from core.events import pipeline_error_event
from core.metrics import PipelineMetrics
from collectors.parsers.catalog import default_registry


class CollectingEmitter:
    """Stands in for core.pipeline.Emitter: stores events at once and runs acks (like a
    pipeline whose store accepted the batch) unless `ack` is False (a crash before storage)."""

    def __init__(self, source_id: str = "test", *, ack: bool = True, metrics=None):
        self.source_id = source_id
        self.ack = ack
        self.events: list[dict] = []
        self.metrics = metrics or PipelineMetrics(CollectorRegistry())
        self.dropped = 0

    async def emit(self, events, ack=None):
        self.events.extend(events)
        if ack is not None and self.ack:
            ack()
        await asyncio.sleep(0)

    def emit_nowait(self, events) -> bool:
        self.events.extend(events)
        return True

    def error(self, stage, reason, *, original=None, **fields):
        self.metrics.errors.labels(self.source_id, stage).inc()
        return pipeline_error_event(self.source_id, stage, reason, original=original, **fields)

    def lines(self) -> list[str]:
        return [e["event.original"] for e in self.events if e["event.kind"] == "event"]

    def errors(self) -> list[dict]:
        return [e for e in self.events if e["event.kind"] == "pipeline_error"]

    def count(self, name: str, **labels) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def build_context(tmp_path) -> BuildContext:
    metrics = PipelineMetrics(CollectorRegistry())
    return BuildContext(data_dir=tmp_path / "data", registry=metrics.registry, metrics=metrics,
                        parsers=default_registry(), hostname="testhost")


async def wait_for(predicate, timeout_secs: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")
