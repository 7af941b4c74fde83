"""Scheduled Sigma queries against a real Elasticsearch (runs only when SHOUWANG_TEST_ES_URL
points at a disposable cluster, like the store contract tests in tests/storage/contract.py):
events written by the Elasticsearch store, a rule converted by pySigma, run by
ScheduledSigma, and the cluster's own evaluation of the query deciding what matched."""
from __future__ import annotations

import os
import time
import uuid

import pytest
from prometheus_client import CollectorRegistry

ES_URL = os.environ.get("SHOUWANG_TEST_ES_URL")
pytestmark = pytest.mark.skipif(not ES_URL, reason="set SHOUWANG_TEST_ES_URL to a disposable "
                                "Elasticsearch to run")
pytest.importorskip("sigma.backends.elasticsearch",
                    reason="pysigma-backend-elasticsearch not installed (optional, --no-deps)")

from detectors.settings import SigmaScheduledSettings  # noqa: E402
from detectors.sigma.scheduled import ScheduledSigma  # noqa: E402
from storage.elasticsearch import ElasticsearchSettings, ElasticsearchStore, build_client  # noqa: E402
from storage.es_requests import stream_pattern  # noqa: E402
from tests.detectors.test_sigma_scheduled import RULE_ID, access, passwd_rule  # noqa: E402


async def test_a_rule_runs_in_the_cluster_and_reports_each_hit_once(tmp_path):
    settings = ElasticsearchSettings(hosts=[ES_URL], namespace=f"t{uuid.uuid4().hex[:10]}",
                                     refresh_on_write=True)
    store = ElasticsearchStore("store", settings)
    await store.open()
    now = time.time()
    await store.write([access(now - 30, "192.0.2.7", "/static/../../etc/passwd"),
                       access(now - 20, "192.0.2.8", "/index.html"),
                       access(now - 10, "198.51.100.4", "/cgi-bin/x?f=/etc/passwd")])
    delivered: list[dict] = []

    async def keep(findings):
        delivered.extend(findings)

    scheduled = ScheduledSigma(
        SigmaScheduledSettings(enabled=True, interval_secs=60, lookback_secs=120),
        [passwd_rule(tmp_path / "sigma")], client_factory=lambda: build_client(settings),
        index=stream_pattern(settings.namespace), deliver=keep, registry=CollectorRegistry())
    try:
        findings = await scheduled.run_once()
        assert sorted(f["source.ip"] for f in findings) == ["192.0.2.7", "198.51.100.4"]
        assert {f["rule.id"] for f in findings} == {RULE_ID}
        assert all(f["shouwang.evidence.count"] == 1 for f in findings)
        await store.write(findings)        # stored alerts must not match the rule themselves
        await store.write([access(time.time() - 1, "192.0.2.7", "/etc/passwd")])
        again = await scheduled.run_once()
        assert [(f["source.ip"], f["shouwang.evidence.count"]) for f in again] == [
            ("192.0.2.7", 1)]
        assert await scheduled.run_once() == []
    finally:
        await scheduled.close()
        client = build_client(settings)
        try:
            await client.indices.delete_data_stream(name=stream_pattern(settings.namespace))
        finally:
            await client.close()
        await store.close()
