import asyncio

from prometheus_client import CollectorRegistry

from core.events import new_event
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline


class ListSource:
    def __init__(self, source_id, batches):
        self.id = source_id
        self.batches = batches
        self.acked = []

    def describe(self):
        return [f"{len(self.batches)} batches"]

    async def run(self, emitter):
        for number, batch in enumerate(self.batches):
            await emitter.emit(batch, ack=lambda number=number: self.acked.append(number))
        await asyncio.Event().wait()


class RecordingSink:
    name = "recorder"

    def __init__(self, fail_first=0, gate=None):
        self.batches = []
        self.fail_first = fail_first
        self.gate = gate

    async def write(self, events):
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_first:
            self.fail_first -= 1
            raise OSError("store down")
        self.batches.append(list(events))


def events(count, tag):
    return [new_event("test", message=f"{tag}-{i}") for i in range(count)]


def sample(registry, name, labels):
    return registry.get_sample_value(name, labels) or 0.0


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_events_are_stored_in_order_and_acked_only_after_storage():
    registry = CollectorRegistry()
    source = ListSource("src", [events(3, "a"), events(2, "b")])
    sink = RecordingSink(fail_first=2)
    pipeline = Pipeline([source], [sink], PipelineMetrics(registry), batch_max_wait_secs=0.01)
    await pipeline.start()
    await wait_for(lambda: source.acked == [0, 1])
    stored = [event["message"] for batch in sink.batches for event in batch]
    assert stored == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    # The two refused writes were retried, counted, and nothing was acked before storage.
    assert sample(registry, "shouwang_component_errors_total",
                  {"component": "recorder", "stage": "write"}) == 2
    assert sample(registry, "shouwang_component_received_events_total", {"component": "src"}) == 5
    assert sample(registry, "shouwang_component_sent_events_total", {"component": "recorder"}) == 5
    await pipeline.stop()


async def test_a_full_queue_blocks_the_source_instead_of_dropping():
    registry = CollectorRegistry()
    gate = asyncio.Event()
    source = ListSource("src", [events(10, str(n)) for n in range(10)])
    sink = RecordingSink(gate=gate)
    pipeline = Pipeline([source], [sink], PipelineMetrics(registry), queue_max_events=25,
                        batch_max_events=10, batch_max_wait_secs=0.01)
    await pipeline.start()
    await asyncio.sleep(0.2)
    # The sink is stuck: the queue fills to its bound and the source waits.
    assert pipeline.queue.size <= 25
    assert sample(registry, "shouwang_component_received_events_total", {"component": "src"}) < 100
    assert sample(registry, "shouwang_pipeline_queue_events", {}) <= 25
    gate.set()
    await wait_for(lambda: len(source.acked) == 10)
    assert sum(len(batch) for batch in sink.batches) == 100
    assert sample(registry, "shouwang_component_dropped_events_total",
                  {"component": "src", "reason": "queue_full"}) == 0
    await pipeline.stop()


async def test_telemetry_may_drop_but_counts_what_it_drops():
    registry = CollectorRegistry()
    gate = asyncio.Event()
    pipeline = Pipeline([], [RecordingSink(gate=gate)], PipelineMetrics(registry),
                        queue_max_events=5)
    emitter = pipeline.emitter("metrics")
    assert emitter.emit_nowait(events(5, "m"))
    assert not emitter.emit_nowait(events(3, "m"))
    assert sample(registry, "shouwang_component_dropped_events_total",
                  {"component": "metrics", "reason": "queue_full"}) == 3


async def test_a_failing_hook_does_not_stop_storage():
    registry = CollectorRegistry()
    sink = RecordingSink()
    seen = []

    def broken_detector(batch):
        raise ValueError("bug in a detector")

    async def detector(batch):
        seen.extend(batch)

    source = ListSource("src", [events(4, "x")])
    pipeline = Pipeline([source], [sink], PipelineMetrics(registry),
                        hooks=[broken_detector, detector], batch_max_wait_secs=0.01)
    await pipeline.start()
    await wait_for(lambda: len(seen) == 4)
    assert sum(len(b) for b in sink.batches) == 4
    assert sample(registry, "shouwang_component_errors_total",
                  {"component": "broken_detector", "stage": "hook"}) == 1
    await pipeline.stop()


async def test_a_crashing_source_is_reported_and_others_go_on():
    class Crashing:
        id = "bad"

        def describe(self):
            return []

        async def run(self, emitter):
            raise RuntimeError("cannot open device")

    registry = CollectorRegistry()
    sink = RecordingSink()
    good = ListSource("good", [events(2, "g")])
    pipeline = Pipeline([Crashing(), good], [sink], PipelineMetrics(registry),
                        batch_max_wait_secs=0.01)
    await pipeline.start()
    await wait_for(lambda: len(good.acked) == 1)
    await wait_for(lambda: any(e["event.kind"] == "pipeline_error"
                               for b in sink.batches for e in b))
    assert pipeline.states["bad"].error == "RuntimeError: cannot open device"
    assert pipeline.states["good"].running
    assert sample(registry, "shouwang_source_up", {"component": "bad"}) == 0
    await pipeline.stop()


async def test_stop_finishes_the_batch_being_written():
    class SlowSink(RecordingSink):
        async def write(self, events):
            await asyncio.sleep(0.3)
            await super().write(events)

    registry = CollectorRegistry()
    source = ListSource("src", [events(5, "s")])
    sink = SlowSink()
    pipeline = Pipeline([source], [sink], PipelineMetrics(registry), batch_max_wait_secs=0.01)
    await pipeline.start()
    await wait_for(lambda: pipeline.queue.size == 0 and pipeline._in_flight)
    await pipeline.stop()
    assert source.acked == [0]
    assert sum(len(b) for b in sink.batches) == 5
