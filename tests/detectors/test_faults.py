"""Fault rule types as ops see them (helpers here are shared with test_root_cause/test_anomaly)."""
from __future__ import annotations

from itertools import count

from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rule

BASE = 1_795_000_000.0
_ids = count()


def metric(second: float, dataset: str, kind: str = "metric", **fields) -> dict:
    event = {"@timestamp": format_ts(BASE + second), "event.id": f"m{next(_ids)}",
             "event.kind": kind, "event.dataset": dataset}
    event.update(fields)
    return event


def probe(second: float, target: str, ok: bool, system: str | None = None, **fields) -> dict:
    extra = {"event.outcome": "success" if ok else "failure", "event.duration": 100_000_000,
             "shouwang.probe.target": target, "shouwang.probe.module": "http"}
    if system:
        extra.update({"shouwang.system": system, "service.name": system,
                      "labels.system": system})
    if not ok:
        extra["error.message"] = "connection refused"
    extra.update(fields)
    return metric(second, "shouwang.probe", **extra)


def shipped_engine(*rule_ids: str, **options) -> Engine:
    types = default_rule_types()
    loaded = [load_rule(DEFAULT_RULES_DIR / f"{rule_id}.yaml", types) for rule_id in rule_ids]
    return Engine.build(loaded, registry=CollectorRegistry(), **options)


def run(engine: Engine, events: list[dict]) -> list[dict]:
    return engine.process(events) + engine.flush()


# --- behaviour --------------------------------------------------------------------------------
T = "https://pe.ipo.example.cn/health"


def test_probe_fires_on_n_of_m_names_the_system_and_repeats_only_after_the_window():
    engine = shipped_engine("fault-probe-failing")
    outcomes = [True, False, True, False, False]            # 3 of the last 5 failed
    events = [probe(15 * n, T, ok, "patent-examination", **{"labels.component": "pe-lb"})
              for n, ok in enumerate(outcomes)]
    events += [probe(75 + 15 * n, T, False, "patent-examination") for n in range(4)]  # quiet
    findings = run(engine, events)
    assert len(findings) == 1
    finding = findings[0]
    assert finding["shouwang.system"] == "patent-examination"
    assert finding["shouwang.component"] == "pe-lb"
    assert finding["service.name"] == "patent-examination"
    assert finding["shouwang.fault.type"] == "probe_failures"
    assert finding["event.category"] == ["network"]
    assert not any(name.startswith("threat.") for name in finding)
    assert finding["shouwang.severity"] == "high"
    assert "failed 3 of the last 5 times: connection refused" in finding["message"]
    # scattered single failures never add up to 3 of 5
    engine = shipped_engine("fault-probe-failing")
    assert run(engine, [probe(15 * n, T, n % 3 != 0) for n in range(40)]) == []


def test_findings_fed_back_and_unknown_kinds_are_not_read():
    engine = shipped_engine("fault-probe-failing")
    events = [dict(probe(n, T, False), **{"event.kind": "alert"}) for n in range(5)]
    assert run(engine, events) == []


def test_burn_rate_slow_burn_warns_then_fast_burn_escalates():
    engine = shipped_engine("fault-latency-slo-burn")
    events = [probe(15 * n, T, True, "patent-examination",
                    **{"event.duration": 3e9 if n >= 40 else 2e8}) for n in range(60)]
    findings = run(engine, events)
    assert [f["shouwang.severity"] for f in findings] == ["medium", "high"]
    assert findings[1]["shouwang.fault.long_window_secs"] == 3600
    assert findings[1]["shouwang.fault.burn_rate"] >= 14.4
    # healthy: 1 slow probe in 60 is 1.7% against a 1% budget, a burn of 1.7: no alert
    engine = shipped_engine("fault-latency-slo-burn")
    healthy = [probe(15 * n, T, True, "patent-examination",
                     **{"event.duration": 3e9 if n == 30 else 2e8}) for n in range(60)]
    assert run(engine, healthy) == []


def access(second, host, status):
    return metric(second, "nginx.access", kind="event",
                  **{"host.name": host, "http.response.status_code": status})


def test_5xx_ratio_needs_the_minimum_request_count():
    engine = shipped_engine("fault-http-5xx-ratio")
    busy = [access(n, "pe-lb-01", 503 if n % 10 == 0 else 200) for n in range(100)]
    quiet = [access(n, "sso-01", 500 if n < 5 else 200) for n in range(10)]   # 50%, 10 requests
    findings = run(engine, sorted(busy + quiet, key=lambda e: e["@timestamp"]))
    assert [f["host.name"] for f in findings] == ["pe-lb-01"]
    assert findings[0]["shouwang.fault.events"] >= 50
    assert findings[0]["shouwang.fault.ratio"] >= 0.05


def filesystem(second, available, mount="/data", host="core-db-01"):
    return metric(second, "system.filesystem", **{
        "host.name": host, "system.filesystem.mount_point": mount,
        "system.filesystem.type": "xfs", "system.filesystem.available": available})


def test_disk_full_prediction_from_the_trend_not_from_one_jump():
    gib = 1 << 30
    engine = shipped_engine("fault-disk-full-predicted")
    filling = [filesystem(300 * n, (40 - n) * gib) for n in range(8)]     # 12 GiB/h
    findings = run(engine, filling)
    assert len(findings) == 1
    assert findings[0]["shouwang.fault.hours_left"] == 3.0   # 36 GiB left at 12 GiB/h
    assert findings[0]["system.filesystem.mount_point"] == "/data"
    # one big copy then flat: the line through an hour is not heading to zero within 4 h
    engine = shipped_engine("fault-disk-full-predicted")
    jump = [filesystem(300 * n, (100 if n < 2 else 60) * gib) for n in range(13)]
    assert run(engine, jump) == []


def test_gauge_must_hold_for_its_duration_and_offsets_count_both_ways():
    engine = shipped_engine("fault-memory-saturation")
    spike = [metric(60 * n, "system.memory", **{"host.name": "tm-app-01",
                                                 "system.memory.actual.used.pct": v})
             for n, v in enumerate([0.97, 0.98, 0.5, 0.97, 0.97, 0.97, 0.97, 0.97, 0.97])]
    findings = run(engine, spike)
    assert len(findings) == 1 and findings[0]["shouwang.fault.for_secs"] == 300
    engine = shipped_engine("fault-clock-offset")
    found = run(engine, [metric(0, "system.ntp", **{"host.name": "pe-app-01",
                                                     "system.ntp.offset.sec": -2.5})])
    assert found[0]["shouwang.fault.value"] == -2.5


def test_certificate_stages_escalate_and_repeat_daily():
    from core.events import format_ts
    engine = shipped_engine("fault-cert-expiry")
    expires = format_ts(BASE + 10 * 86_400)
    events = [probe(3600 * h, T, True, **{"tls.server.not_after": expires})
              for h in range(0, 24 * 9, 6)]
    findings = run(engine, events)
    levels = [(round(f["shouwang.fault.days_left"]), f["shouwang.severity"]) for f in findings]
    assert levels[0] == (10, "medium")
    assert (3, "high") in levels or (2, "high") in levels
    assert len(findings) <= 10   # about daily, not every 6 hours


def test_silent_agent_is_found_by_the_wall_clock_when_nothing_arrives():
    now = [BASE + 60]
    engine = shipped_engine("fault-agent-silent", clock=lambda: now[0], live=True,
                            allowed_lateness_secs=5)
    beats = [metric(30 * n, "shouwang.agent", kind="state",
                    **{"agent.id": "a1", "host.name": "core-db-01"}) for n in range(3)]
    assert engine.process(beats) == []
    now[0] = BASE + 60 + 100
    assert engine.advance(now[0]) == []                      # 100 s: within 4 x 30 s
    now[0] = BASE + 60 + 200
    findings = engine.advance(now[0])
    assert [f["agent.id"] for f in findings] == ["a1"]
    assert findings[0]["host.name"] == "core-db-01"
    assert findings[0]["shouwang.fault.silent_secs"] == 120
    assert engine.advance(now[0] + 600) == []                # repeated hourly, not per tick
    assert len(engine.advance(now[0] + 3700)) == 1
    engine.process([metric(4000, "shouwang.agent", kind="state", **{"agent.id": "a1"})])
    assert engine.advance(BASE + 4000 + 60) == []            # it spoke: silence over


def test_silence_of_expected_keys_that_never_reported(tmp_path):
    import yaml
    from detectors.catalog import default_rule_types
    from detectors.rules import load_rule
    data = yaml.safe_load((DEFAULT_RULES_DIR / "fault-agent-silent.yaml").read_text())
    data["expected"] = [{"agent.id": "never-seen"}]
    path = tmp_path / "fault-agent-silent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = Engine.build([load_rule(path, default_rule_types())],
                          registry=CollectorRegistry(), allowed_lateness_secs=0)
    engine.advance(BASE)
    findings = engine.advance(BASE + 200)
    assert [f["agent.id"] for f in findings] == ["never-seen"]


def test_error_burst_counts_error_logs_per_host():
    engine = shipped_engine("fault-error-log-burst")
    errors = [metric(n, "system.syslog", kind="event",
                     **{"host.hostname": "core-db-01", "log.syslog.severity.code": 3,
                        "message": "ORA-00257: archiver error"}) for n in range(60)]
    notices = [metric(n, "system.syslog", kind="event",
                      **{"host.hostname": "pe-app-01", "log.syslog.severity.code": 5})
               for n in range(100)]
    findings = run(engine, sorted(errors + notices, key=lambda e: e["@timestamp"]))
    assert [f["host.hostname"] for f in findings] == ["core-db-01"]
    assert findings[0]["shouwang.fault.type"] == "error_burst"
    assert "ORA-00257" in findings[0]["message"]
