"""Dedup, resolution after the rule's interval, re-firing, labels taken from findings."""
from __future__ import annotations

from alerting.labels import finding_labels, fingerprint
from alerting.model import AlertState
from tests.alerting.conftest import finding

ROUTE = {"route": {"receiver": "default", "group_wait_secs": 0, "group_interval_secs": 60,
                   "repeat_interval_secs": 3600}}


async def test_same_finding_deduplicates_into_one_alert_and_one_notification(build):
    h = build({**ROUTE})
    for index in range(5):
        event = finding(**{"source.ip": "203.0.113.7", "host.name": "web1"})
        event["event.id"] = f"f{index}"
        await h.take(event)
    alerts = h.service.list_alerts()
    assert len(alerts) == 1
    assert alerts[0].occurrences == 5
    assert alerts[0].finding_ids == ["f0", "f1", "f2", "f3", "f4"]
    assert len(h.receivers["default"].sent) == 1
    assert h.sample("shouwang_alerting_findings_total", {"outcome": "deduplicated"}) == 4


async def test_different_source_is_a_different_alert(build):
    h = build({**ROUTE, "route": {**ROUTE["route"], "group_by": ["..."]}})
    await h.take(finding(**{"source.ip": "203.0.113.7"}))
    await h.take(finding(**{"source.ip": "203.0.113.8"}))
    assert len(h.service.list_alerts()) == 2
    assert len(h.receivers["default"].sent) == 2


async def test_alert_resolves_after_the_findings_interval_and_sends_resolved(build):
    h = build({**ROUTE, "resolve_after_secs": 300})
    await h.take(finding(**{"shouwang.resolve_after_secs": 120}))
    await h.step(119)
    assert h.service.list_alerts()[0].state is AlertState.FIRING
    await h.step(1)           # deadline passes: resolved at start + 120
    await h.step(60)          # the group's next flush carries the resolution
    alert = h.service.list_alerts()[0]
    assert alert.state is AlertState.RESOLVED
    assert alert.ends_at == alert.starts_at + 120
    sent = h.receivers["default"].sent
    assert [n.status for n in sent] == ["firing", "resolved"]


async def test_recurring_finding_keeps_the_alert_firing(build):
    h = build({**ROUTE, "resolve_after_secs": 100})
    await h.take(finding())
    for _ in range(5):
        await h.step(90)
        await h.take(finding())
    assert h.service.list_alerts()[0].state is AlertState.FIRING


async def test_default_resolve_interval_applies_without_one_in_the_finding(build):
    h = build({**ROUTE, "resolve_after_secs": 30})
    await h.take(finding())
    await h.step(31)
    assert h.service.list_alerts()[0].state is AlertState.RESOLVED


async def test_finding_after_resolution_fires_again_as_a_new_incident(build):
    h = build({**ROUTE, "resolve_after_secs": 30})
    first = await h.take(finding())
    h.service.acknowledge(first.fingerprint, "zhang")
    await h.step(31)
    await h.step(60)
    again = await h.take(finding())
    assert again.fingerprint == first.fingerprint
    assert again.state is AlertState.FIRING and again.acknowledged_by is None
    assert again.occurrences == 1 and again.starts_at == h.clock.now


def test_labels_from_a_detector_finding():
    event = {"event.kind": "alert", "rule.id": "web-sqli", "rule.name": "SQL injection",
             "shouwang.severity": "critical", "source.ip": "198.51.100.4",
             "host.name": "exam-web-01", "threat.technique.id": ["T1190"],
             "threat.tactic.name": ["Initial Access"], "shouwang.system": "exam",
             "shouwang.component": "nginx", "event.id": "x1"}
    labels = finding_labels(event)
    assert labels == {"alertname": "SQL injection", "severity": "critical",
                      "rule_id": "web-sqli", "system": "exam", "component": "nginx",
                      "source_ip": "198.51.100.4", "host": "exam-web-01",
                      "technique": "T1190", "tactic": "Initial Access"}
    # The fingerprint is the sorted label set: order of the fields does not matter.
    assert fingerprint(labels) == fingerprint(dict(reversed(list(labels.items()))))
    assert finding_labels({"rule.id": "r", "event.severity": 95})["severity"] == "critical"
