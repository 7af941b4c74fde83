"""prom_scrape against a real prometheus_client exporter and servers that answer garbage."""
import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from collectors.prom_scrape import SPEC, PromScrapeSettings
from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.registry import Registry


@pytest.fixture
def exporter():
    """A real prometheus_client exporter on 127.0.0.1 with known values."""
    registry = CollectorRegistry()
    Counter("exam_requests", "requests", ["route"], registry=registry).labels("/submit").inc(7)
    Gauge("exam_queue_depth", "depth", registry=registry).set(3)
    hist = Histogram("exam_latency_seconds", "lat", buckets=(0.1, 1.0), registry=registry)
    hist.observe(0.05)
    hist.observe(0.5)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


@contextlib.asynccontextmanager
async def raw_server(payload: bytes, host="127.0.0.1", delay=0.0):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(delay)
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{'[::1]' if ':' in host else host}:{port}/metrics"
    finally:
        server.close()


def http_answer(body: bytes, content_type="text/plain; version=0.0.4", status="200 OK"):
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def setup(tmp_path: Path, **config):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="mon-1")
    settings = PromScrapeSettings.model_validate({"type": "prom_scrape", **config})
    source = SPEC.build("scrape", settings, ctx)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    return source, pipeline.emitter("scrape"), pipeline, registry


def queued(pipeline):
    return [event for item in pipeline.queue._items for event in item.events]


async def scrape_once(source, emitter, index=0):
    async with source._client() as client:
        await source.scrape(client, source.settings.targets[index], emitter)


async def test_scrapes_a_real_exporter_into_grouped_metric_events(tmp_path, exporter):
    source, emitter, pipeline, registry = setup(
        tmp_path, targets=[{"url": exporter, "labels": {"system": "patent-examination"}}])
    await scrape_once(source, emitter)
    events = queued(pipeline)
    by_route = [e for e in events if e.get("prometheus.labels.route") == "/submit"]
    assert len(by_route) == 1
    assert by_route[0]["prometheus.metrics.exam_requests_total"] == 7.0
    assert by_route[0]["event.kind"] == "metric"
    assert by_route[0]["event.dataset"] == "prometheus.metrics"
    assert by_route[0]["service.address"] == exporter
    assert by_route[0]["labels.system"] == "patent-examination"
    unlabelled = [e for e in events if "prometheus.metrics.exam_queue_depth" in e]
    assert unlabelled[0]["prometheus.metrics.exam_queue_depth"] == 3.0
    assert unlabelled[0]["prometheus.metrics.exam_latency_seconds_count"] == 2.0
    assert unlabelled[0]["prometheus.metrics.exam_latency_seconds_sum"] == pytest.approx(0.55)
    buckets = {e["prometheus.labels.le"]: e["prometheus.metrics.exam_latency_seconds_bucket"]
               for e in events if "prometheus.labels.le" in e}
    assert buckets == {"0.1": 1.0, "1.0": 2.0, "+Inf": 2.0}
    labels = {"target": exporter, "system": "patent-examination"}
    assert registry.get_sample_value("up", labels) == 1.0
    assert 0 < registry.get_sample_value("scrape_duration_seconds", labels) < 2
    # counter total+created, gauge, 3 buckets + count + sum + created
    assert registry.get_sample_value("scrape_samples_scraped", labels) == 9.0


async def test_openmetrics_answer_is_parsed_with_the_openmetrics_parser(tmp_path):
    body = (b"# TYPE portal_logins counter\nportal_logins_total{result=\"ok\"} 12\n"
            b"portal_logins_created{result=\"ok\"} 1.7e9\n# EOF\n")
    async with raw_server(http_answer(
            body, "application/openmetrics-text; version=1.0.0; charset=utf-8")) as url:
        source, emitter, pipeline, registry = setup(tmp_path, targets=[{"url": url}])
        await scrape_once(source, emitter)
    [event] = queued(pipeline)
    assert event["prometheus.metrics.portal_logins_total"] == 12.0
    assert event["prometheus.labels.result"] == "ok"
    assert registry.get_sample_value("up", {"target": url}) == 1.0


@pytest.mark.parametrize("payload, stage", [
    (http_answer(b"this is {not prometheus\n\x00\xff garbage"), "parse"),
    (http_answer(b"# EOF missing\nfoo{a=\"1\" 2\n",
                 "application/openmetrics-text; version=1.0.0"), "parse"),
    (http_answer(b"oops", status="500 Internal Server Error"), "scrape"),
    (b"\x16\x03\x01 definitely not http\r\n\r\n", "scrape"),
])
async def test_garbage_is_a_counted_error_and_a_pipeline_error_event(tmp_path, payload, stage):
    async with raw_server(payload) as url:
        source, emitter, pipeline, registry = setup(tmp_path, targets=[{"url": url}])
        await scrape_once(source, emitter)
    [event] = queued(pipeline)
    assert event["event.kind"] == "pipeline_error"
    assert event["service.address"] == url
    assert registry.get_sample_value("shouwang_component_errors_total",
                                     {"component": "scrape", "stage": stage}) == 1.0
    assert registry.get_sample_value("up", {"target": url}) == 0.0


async def test_unreachable_timeout_and_oversized_are_errors_not_crashes(tmp_path):
    big = http_answer(b"m 1\n" * 5000)
    async with raw_server(b"", delay=5) as slow, raw_server(big) as huge:
        source, emitter, pipeline, registry = setup(
            tmp_path, timeout_secs=0.3, max_bytes=1024,
            targets=[{"url": "http://127.0.0.1:1/metrics"}, {"url": slow}, {"url": huge}])
        for index in range(3):
            await scrape_once(source, emitter, index)
    reasons = [e["error.message"] for e in queued(pipeline)]
    assert "ConnectError" in reasons[0]
    assert reasons[1] == "timed out after 0.3s"
    assert reasons[2] == "body larger than 1024 bytes"
    assert registry.get_sample_value("shouwang_component_errors_total",
                                     {"component": "scrape", "stage": "scrape"}) == 3.0


async def test_bearer_token_comes_from_a_secret_reference_over_ipv6(tmp_path, monkeypatch):
    seen = []

    async def handle(reader, writer):
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(http_answer(b"ok_metric 1\n"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "::1", 0)
    url = f"http://[::1]:{server.sockets[0].getsockname()[1]}/metrics"
    monkeypatch.setenv("SCRAPE_TOKEN", "s3cret")
    source, emitter, pipeline, registry = setup(
        tmp_path, targets=[{"url": url, "bearer_token": "env:SCRAPE_TOKEN"}])
    assert "s3cret" not in repr(source.settings)
    await scrape_once(source, emitter)
    server.close()
    assert b"Authorization: Bearer s3cret" in seen[0] or b"authorization: Bearer s3cret" in seen[0]
    assert queued(pipeline)[0]["prometheus.metrics.ok_metric"] == 1.0


async def test_run_scrapes_on_schedule_and_two_sources_share_one_up_family(tmp_path, exporter):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="mon-1")
    first = SPEC.build("a", PromScrapeSettings(type="prom_scrape", interval_secs=0.2,
                                               targets=[{"url": exporter}]), ctx)
    second = SPEC.build("b", PromScrapeSettings(type="prom_scrape", interval_secs=0.2,
                                                targets=[{"url": "http://127.0.0.1:1/"}]), ctx)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    tasks = [asyncio.create_task(s.run(pipeline.emitter(s.id))) for s in (first, second)]
    await asyncio.sleep(0.7)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert registry.get_sample_value("up", {"target": exporter}) == 1.0
    assert registry.get_sample_value("up", {"target": "http://127.0.0.1:1/"}) == 0.0
    assert registry.get_sample_value("shouwang_component_received_events_total",
                                     {"component": "a"}) >= 2 * 5


def test_bad_labels_are_configuration_errors():
    with pytest.raises(ValueError, match="set by Shouwang"):
        PromScrapeSettings(type="prom_scrape", targets=[{"url": "http://x/", "labels": {"target": "1"}}])
    with pytest.raises(ValueError, match="not a valid"):
        PromScrapeSettings(type="prom_scrape", targets=[{"url": "http://x/", "labels": {"a-b": "1"}}])
    with pytest.raises(ValueError):
        PromScrapeSettings(type="prom_scrape", targets=[{"url": "http://x/", "bearer_token": "x"}])
