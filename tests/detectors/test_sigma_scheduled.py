"""Sigma rules as scheduled Elasticsearch queries (detectors/sigma/scheduled.py), against a
real HTTP server on 127.0.0.1 standing in for Elasticsearch (tests/detectors/es_standin.py:
it filters by time range and sorts like Elasticsearch, but a rule's Lucene query is answered
by a predicate given here; the real cluster test is test_sigma_scheduled_es.py)."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

pytest.importorskip("sigma.backends.elasticsearch",
                    reason="pysigma-backend-elasticsearch not installed (optional, --no-deps)")

from core.errors import ConfigError  # noqa: E402
from core.events import format_ts, new_event  # noqa: E402
from detectors.settings import SigmaScheduledSettings  # noqa: E402
from detectors.sigma.scheduled import ScheduledSigma, plan_queries  # noqa: E402
from storage.elasticsearch import ElasticsearchSettings, build_client  # noqa: E402
from tests.detectors.es_standin import ElasticsearchStandIn  # noqa: E402
from tests.detectors.test_sigma_correlation import correlation  # noqa: E402
from tests.detectors.test_sigma_support import rule_text  # noqa: E402

NOW = 1_790_000_000.0
INDEX = "logs-*-prod"
RULE_ID = "0f6a2f7e-4c55-4d0e-9a57-3b8b5f0f1d21"
SIGMA_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma-rules"


def passwd_rule(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "passwd.yml").write_text(rule_text(
        "selection: {cs-uri-query|contains: '/etc/passwd'}\ncondition: selection",
        rule_id=RULE_ID, title="passwd read over the web", level="high",
        tags="[attack.initial-access, attack.t1190]"))
    return directory


def reads_passwd(document: dict) -> bool:
    """What the rule's query asks of a document (the stand-in does not parse Lucene)."""
    return (document.get("event.dataset") in ("nginx.access", "apache.access")
            and "/etc/passwd" in document.get("url.original", ""))


def access(seconds: float, ip: str, url: str) -> dict:
    return new_event("nginx.access", timestamp=format_ts(seconds), created=format_ts(seconds),
                     source__ip=ip, source__address=ip, url__original=url,
                     http__response__status_code=404)


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def es():
    with ElasticsearchStandIn(reads_passwd) as server:
        yield server


@pytest.fixture
def scheduler(tmp_path, es):
    """A ScheduledSigma over one rule, the stand-in as cluster, and what it delivered."""
    made = []

    def make(registry=None, *, deliver=None, **settings):
        delivered: list[list[dict]] = []

        async def keep(findings):
            delivered.append(findings)

        scheduled = ScheduledSigma(
            SigmaScheduledSettings(enabled=True, **{"interval_secs": 60, "lookback_secs": 120,
                                                    **settings}),
            [passwd_rule(tmp_path / "sigma")],
            client_factory=lambda: build_client(ElasticsearchSettings(hosts=[es.url],
                                                                      request_timeout_secs=5)),
            index=INDEX, deliver=deliver or keep, registry=registry or CollectorRegistry(),
            state_path=tmp_path / "state.json", clock=Clock(NOW))
        scheduled.delivered = delivered
        made.append(scheduled)
        return scheduled
    yield make


def metric(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_plan_schedules_active_single_event_rules_and_leaves_correlations_in_process(tmp_path):
    directory = passwd_rule(tmp_path / "sigma")
    (directory / "member.yml").write_text(rule_text(
        "selection: {User: root}\ncondition: selection", logsource="product: linux\n"
        "service: sshd", extra="name: root_login\n"))
    (directory / "burst.yml").write_text(correlation("""
        type: event_count
        rules: [root_login]
        group-by: [c-ip]
        timespan: 5m
        condition: {gte: 10}""", title="root burst"))
    (directory / "windows.yml").write_text(rule_text(
        "selection: {Image|endswith: '\\\\x.exe'}\ncondition: selection",
        logsource="product: windows\ncategory: process_creation"))
    plan = plan_queries([directory], index=INDEX)
    assert [query.view.id for query in plan.queries] == [RULE_ID]
    assert plan.skipped == [("root burst", "correlation: runs in-process")]
    # the rule's own condition, on our ECS field and datasets, as pySigma converted it
    text = str(plan.queries[0].query)
    assert "event.dataset:(nginx.access OR apache.access)" in text and "url.original:" in text


@pytest.mark.skipif(not SIGMA_RULES.is_dir(), reason="shared Sigma rules absent")
def test_every_active_sigmahq_single_event_rule_gets_a_query():
    from detectors.sigma.loader import load_sigma_rules

    plan = plan_queries([SIGMA_RULES], index=INDEX)
    loaded = load_sigma_rules([SIGMA_RULES])
    assert len(plan.queries) + len(plan.skipped) == len(loaded.active) > 50
    assert all(reason == "correlation: runs in-process" for _, reason in plan.skipped)


async def test_hits_become_sigma_findings_once_across_overlapping_runs(scheduler, es):
    registry = CollectorRegistry()
    scheduled = scheduler(registry)
    es.add(access(NOW - 30, "192.0.2.7", "/static/../../etc/passwd"),
           access(NOW - 20, "192.0.2.7", "/cgi-bin/x?f=/etc/passwd"),
           access(NOW - 10, "192.0.2.7", "/index.html"),
           access(NOW - 5, "198.51.100.4", "/etc/passwd"),
           access(NOW - 400, "203.0.113.9", "/etc/passwd"))      # before the first window
    findings = await scheduled.run_once()
    assert scheduled.delivered == [findings]
    by_ip = {f["shouwang.sigma.subject"]: f for f in findings}
    assert set(by_ip) == {"192.0.2.7", "198.51.100.4"}
    first = by_ip["192.0.2.7"]
    assert first["rule.id"] == RULE_ID and first["rule.ruleset"] == "sigma"
    assert first["rule.name"] == "passwd read over the web" and first["event.kind"] == "alert"
    assert first["event.severity"] == 73 and first["shouwang.severity"] == "high"
    assert first["threat.technique.id"] == "T1190"
    assert first["threat.tactic.name"] == "Initial Access"
    assert first["shouwang.evidence.count"] == 2
    assert first["shouwang.evidence.sample_event_ids"] == [d["event.id"] for d in es.documents[:2]]
    assert first["@timestamp"] == format_ts(NOW - 20)
    assert first["source.ip"] == "192.0.2.7" and first["url.original"] == "/cgi-bin/x?f=/etc/passwd"
    assert first["shouwang.sigma.engine"] == "elasticsearch"

    # the first run searched [now - interval - lookback, now), oldest first, max_hits at most
    path, body = es.searches[0]
    assert path == f"/{INDEX}/_search"
    window = body["query"]["bool"]["filter"][1]["range"]["@timestamp"]
    assert window == {"gte": format_ts(NOW - 180), "lt": format_ts(NOW)}
    assert body["sort"][0] == {"@timestamp": {"order": "asc"}} and body["size"] == 100
    assert body["query"]["bool"]["must_not"] == [{"term": {"event.kind": "alert"}}]

    # a minute later: the window overlaps the last one by the look-back; only the new hit
    scheduled.clock.now = NOW + 60
    es.add(access(NOW + 30, "192.0.2.7", "/etc/passwd"),
           access(NOW - 1, "198.51.100.4", "/x/etc/passwd"))    # indexed late, still found
    findings = await scheduled.run_once()
    window = es.searches[1][1]["query"]["bool"]["filter"][1]["range"]["@timestamp"]
    assert window == {"gte": format_ts(NOW - 120), "lt": format_ts(NOW + 60)}
    assert sorted((f["shouwang.sigma.subject"], f["shouwang.evidence.count"])
                  for f in findings) == [("192.0.2.7", 1), ("198.51.100.4", 1)]
    scheduled.clock.now = NOW + 120
    assert await scheduled.run_once() == []
    assert metric(registry, "shouwang_sigma_scheduled_queries_total", outcome="ok") == 3
    assert metric(registry, "shouwang_sigma_scheduled_hits_total") == 5
    assert metric(registry, "shouwang_sigma_scheduled_findings_total") == 4
    assert metric(registry, "shouwang_sigma_scheduled_run_seconds_count") == 3
    assert metric(registry, "shouwang_sigma_scheduled_rules", state="scheduled") == 1
    await scheduled.close()


async def test_a_restart_resumes_without_repeating_findings(scheduler, es):
    es.add(access(NOW - 30, "192.0.2.7", "/etc/passwd"))
    first = scheduler()
    assert len(await first.run_once()) == 1
    await first.close()
    again = scheduler()                     # same state file, as after a restart
    again.clock.now = NOW + 60
    assert await again.run_once() == []
    await again.close()


async def test_more_hits_than_max_hits_continue_in_the_next_run(scheduler, es):
    registry = CollectorRegistry()
    scheduled = scheduler(registry, max_hits=2)
    es.add(*[access(NOW - 50 + i, f"192.0.2.{i}", "/etc/passwd") for i in range(5)])
    seen = []
    for run in range(4):
        scheduled.clock.now = NOW + 60 * run
        seen += [f["source.ip"] for f in await scheduled.run_once()]
    assert sorted(seen) == [f"192.0.2.{i}" for i in range(5)]     # each once, none lost
    assert metric(registry, "shouwang_sigma_scheduled_truncated_total") == 2
    await scheduled.close()


async def test_failed_queries_are_counted_and_logged_never_raised(scheduler, es, caplog):
    registry = CollectorRegistry()
    scheduled = scheduler(registry)
    es.add(access(NOW - 30, "192.0.2.7", "/etc/passwd"))
    es.scripted = [(400, {"error": {"type": "search_phase_execution_exception",
                                    "reason": "Failed to parse query"}, "status": 400}),
                   (400, {"error": {"type": "search_phase_execution_exception",
                                    "reason": "Failed to parse query"}, "status": 400}),
                   (503, {"error": {"type": "unavailable"}, "status": 503})]
    with caplog.at_level(logging.ERROR, logger="detectors.sigma.scheduled"):
        for _ in range(3):
            assert await scheduled.run_once() == []
    assert metric(registry, "shouwang_sigma_scheduled_errors_total", reason="rejected") == 2
    assert metric(registry, "shouwang_sigma_scheduled_errors_total", reason="busy") == 1
    assert metric(registry, "shouwang_sigma_scheduled_queries_total", outcome="error") == 3
    messages = [r.getMessage() for r in caplog.records]
    # named once while the error stays the same, then again when it changes
    assert len(messages) == 2 and RULE_ID in messages[0] and "rejected" in messages[0]
    assert "passwd.yml" in messages[0]
    # the window did not move: the hit is found once the cluster answers again
    assert [f["source.ip"] for f in await scheduled.run_once()] == ["192.0.2.7"]

    es.stop()                                # the cluster goes away
    scheduled.clock.now = NOW + 60
    assert await scheduled.run_once() == []
    assert metric(registry, "shouwang_sigma_scheduled_errors_total", reason="unreachable") == 1
    await scheduled.close()


async def test_a_failed_delivery_is_repeated_next_run(scheduler, es):
    attempts = []

    async def flaky(findings):
        attempts.append(findings)
        if len(attempts) == 1:
            raise OSError("store full")

    scheduled = scheduler(deliver=flaky)
    es.add(access(NOW - 30, "192.0.2.7", "/etc/passwd"))
    with pytest.raises(OSError):
        await scheduled.run_once()
    scheduled.clock.now = NOW + 60
    await scheduled.run_once()
    assert len(attempts) == 2
    assert attempts[0][0]["event.id"] == attempts[1][0]["event.id"]   # the store keeps one
    await scheduled.close()


def write_config(tmp_path: Path, store: dict, **detection) -> Path:
    import yaml

    config = tmp_path / "shouwang.yaml"
    config.write_text(yaml.safe_dump({
        "node": {"name": "t", "data_dir": str(tmp_path / "var")}, "store": store,
        "detection": {"sigma_dirs": [str(passwd_rule(tmp_path / "sigma"))],
                      "topology_file": None, **detection}}))
    return config


def test_scheduling_needs_an_elasticsearch_store(tmp_path):
    from cli.app import load_settings

    config = write_config(tmp_path, {"type": "sqlite"}, sigma_scheduled={"enabled": True})
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "[detection.sigma_scheduled.enabled]" in str(caught.value)
    assert "needs store.type elasticsearch" in str(caught.value)


async def test_monitor_runs_the_queries_and_stores_their_findings(tmp_path, es):
    from cli.app import load_settings
    from cli.monitor import Monitor

    config = write_config(tmp_path, {"type": "elasticsearch", "hosts": [es.url],
                                     "namespace": "prod"},
                          sigma_scheduled={"enabled": True, "interval_secs": 60})
    settings, document, registries = load_settings(config)
    monitor = Monitor(settings, registries, out=io.StringIO())
    # the rule runs in the cluster only, not also in-process (no double alerts)
    assert RULE_ID not in {d.id for d in monitor.engine.detectors}
    assert [q.view.id for q in monitor.scheduled_sigma.plan.queries] == [RULE_ID]
    await monitor.store.open()
    import time as wall

    es.add(access(wall.time() - 5, "192.0.2.7", "/etc/passwd"))
    findings = await monitor.scheduled_sigma.run_once()
    assert [f["rule.id"] for f in findings] == [RULE_ID]
    stored = [d for d in es.documents if d.get("event.kind") == "alert"]
    assert [d["event.id"] for d in stored] == [findings[0]["event.id"]]
    await monitor.scheduled_sigma.close()
    await monitor.store.close()


async def test_a_changed_rule_directory_is_planned_again(scheduler, es, tmp_path):
    scheduled = scheduler()
    assert len(scheduled.plan.queries) == 1
    (tmp_path / "sigma" / "shadow.yml").write_text(rule_text(
        "selection: {cs-uri-query|contains: '/etc/shadow'}\ncondition: selection"))
    await scheduled.run_once()
    assert len(scheduled.plan.queries) == 2
    (tmp_path / "sigma" / "shadow.yml").write_text("title: [broken")
    await scheduled.run_once()                 # a broken file keeps the running plan
    assert len(scheduled.plan.queries) == 2
    await scheduled.close()
