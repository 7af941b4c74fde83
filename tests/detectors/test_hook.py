"""The engine attached to a real pipeline: findings come out of stored batches."""
from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from tests.detectors.conftest import BASE_EPOCH, auth_event, rule_text
from tests.detectors.test_engine import THRESHOLD


class ListSource:
    id = "list"

    def __init__(self, events):
        self.events = events

    def describe(self):
        return ["a list"]

    async def run(self, emitter):
        for event in self.events:
            await emitter.emit([event])
        await asyncio.Event().wait()


class MemorySink:
    name = "memory"

    def __init__(self):
        self.events = []

    async def write(self, events):
        self.events.extend(events)


async def test_hook_delivers_findings_and_quiet_streams_are_released(make_engine):
    engine, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)}, allowed_lateness_secs=5)
    delivered = []
    now = [BASE_EPOCH]
    sink = MemorySink()
    pipeline = Pipeline([ListSource([auth_event(n) for n in range(3)])], [sink],
                        PipelineMetrics(CollectorRegistry()), batch_max_wait_secs=0.01)
    # the clock is far ahead: the stream is quiet, so the watermark moves by wall time
    now[0] += 60
    pipeline.add_hook(engine.hook(delivered.extend, clock=lambda: now[0]))
    await pipeline.start()
    for _ in range(200):
        if delivered:
            break
        await asyncio.sleep(0.01)
    await pipeline.stop(drain_secs=1)
    assert len(sink.events) == 3
    assert [f["rule.id"] for f in delivered] == ["brute"]
