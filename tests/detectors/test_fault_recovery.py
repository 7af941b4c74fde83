"""A fault that ends says so: the alert resolves when the probe recovers, not minutes later."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerting.model import AlertState
from alerting.settings import AlertingSettings
from alerting.wiring import build_alerting
from tests.detectors.test_faults import T, probe, run, shipped_engine


def test_probe_recovery_follows_the_fault_and_the_fault_outlives_its_repeat_period():
    engine = shipped_engine("fault-probe-failing")
    events = [probe(15 * n, T, False, "patent-examination") for n in range(3)]
    # the condition holds until fewer than 3 of the last 5 results failed: 3 successes
    events += [probe(45 + 15 * n, T, True, "patent-examination") for n in range(3)]
    findings = run(engine, events)
    fired, recovered = findings
    assert fired.get("shouwang.fault.state") is None
    # repeated every window_secs (600 s) while failing: the alert must not expire in between
    assert fired["shouwang.resolve_after_secs"] > 2 * 600
    assert recovered["shouwang.fault.state"] == "recovered"
    assert recovered["rule.id"] == fired["rule.id"]
    assert recovered["shouwang.system"] == "patent-examination"
    assert recovered["@timestamp"] > fired["@timestamp"]
    assert recovered["event.id"] != fired["event.id"]


def test_a_single_success_among_failures_is_not_a_recovery():
    engine = shipped_engine("fault-probe-failing")
    outcomes = [False, False, False, True, False]     # still 4 of 5 failed
    findings = run(engine, [probe(15 * n, T, ok) for n, ok in enumerate(outcomes)])
    assert [f.get("shouwang.fault.state") for f in findings] == [None]


async def test_alerting_resolves_the_alert_on_the_recovery_finding(tmp_path):
    now = [1_795_000_000.0]
    settings = AlertingSettings.model_validate({
        "route": {"receiver": "hook", "group_wait_secs": 0, "group_interval_secs": 1},
        "receivers": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
    })
    sent = []

    class Recorder:
        name = "hook"

        async def send(self, notification):
            sent.append(notification)

    service = build_alerting(settings, data_dir=tmp_path, registry=CollectorRegistry(),
                             clock=lambda: now[0], receivers={"hook": Recorder()})
    service.open()
    engine = shipped_engine("fault-probe-failing")
    fired, recovered = run(engine, [probe(15 * n, T, n >= 3) for n in range(6)])
    alert = service.handle_finding(fired)
    assert alert.state is AlertState.FIRING
    now[0] += 30
    service.handle_finding(recovered)
    now[0] += 2
    service.tick()
    assert service.book.alerts[alert.fingerprint].state is AlertState.RESOLVED
    # a recovery for an alert nobody holds changes nothing
    assert service.handle_finding({**recovered, "shouwang.system": "other"}) is None
    await service.close()
