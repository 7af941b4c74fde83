"""/healthz, /readyz and /metrics as an operator or Prometheus sees them."""
from __future__ import annotations

import asyncio

from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from api.readiness import pipeline_readiness
from tests.api.conftest import MemoryStore


async def test_readyz_is_200_when_store_and_sources_are_up(make_harness):
    async def sources():
        return {"source:auth": True, "source:syslog": {"ok": True, "detail": "udp://:5514"}}

    harness = make_harness(readiness=sources)
    async with harness.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["store"] == {"ok": True, "backend": "memory"}
    assert body["checks"]["source:auth"] == {"ok": True}
    assert body["checks"]["source:syslog"]["ok"] is True


async def test_readyz_flips_to_503_when_the_store_ping_fails(make_harness):
    store = MemoryStore()
    harness = make_harness(store=store)
    async with harness.client() as client:
        assert (await client.get("/readyz")).status_code == 200
        store.healthy = False
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "not ready"
        assert response.json()["checks"]["store"]["ok"] is False
        store.healthy = True
        assert (await client.get("/readyz")).status_code == 200
        # /healthz is liveness: it stays 200 whatever the store does.
        store.healthy = False
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_is_503_when_a_source_stopped_or_the_check_hangs(make_harness):
    class State:
        def __init__(self, running, error=None):
            self.running, self.error = running, error

    class FakePipeline:
        states = {"auth": State(True), "web": State(False, "OSError: no such file")}

    harness = make_harness(readiness=pipeline_readiness(FakePipeline()))
    async with harness.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["source:web"] == {"ok": False,
                                                       "detail": "OSError: no such file"}
    assert response.json()["checks"]["source:auth"] == {"ok": True}

    async def hangs():
        await asyncio.sleep(30)

    class SlowStore(MemoryStore):
        async def ping(self):
            raise ConnectionError("refused")

    harness = make_harness(readiness=hangs, store=SlowStore(), readiness_timeout_secs=0.05)
    async with harness.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["store"] == {"ok": False, "detail": "ConnectionError: refused"}
    assert "longer than" in checks["readiness"]["detail"]


async def test_metrics_exposes_the_injected_registry_and_api_counters(harness):
    Counter("shouwang_test_widgets", "Widgets", registry=harness.registry).inc(7)
    async with harness.client() as client:
        await client.get("/api/v1/events")  # 401: counted as an auth failure
        await client.get("/no/such/path")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text)
               for s in family.samples}
    assert samples[("shouwang_test_widgets_total", ())] == 7
    assert samples[("shouwang_api_auth_failures_total", (("reason", "missing"),))] == 1
    assert samples[("shouwang_api_requests_total",
                    (("method", "GET"), ("route", "/api/v1/events"), ("status", "401")))] == 1
    # Unknown paths share one label value, so scanners cannot explode cardinality.
    assert samples[("shouwang_api_requests_total",
                    (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert ("shouwang_api_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/v1/events"))) in samples


async def test_metrics_speaks_openmetrics_when_asked(harness):
    async with harness.client() as client:
        response = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_each_app_has_its_own_registry(make_harness):
    first, second = make_harness(), make_harness()
    async with first.client() as client:
        await client.get("/healthz")
    assert first.sample("shouwang_api_requests_total",
                        {"route": "/healthz", "method": "GET", "status": "200"}) == 1
    assert second.sample("shouwang_api_requests_total",
                         {"route": "/healthz", "method": "GET", "status": "200"}) is None
