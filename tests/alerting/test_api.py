"""The alert routes as a user calls them: RBAC, filters, ack/resolve, silences, maintenance
windows, and the Alertmanager webhook intake (good and malformed payloads)."""
from __future__ import annotations

import copy

import httpx
import pytest
from prometheus_client import CollectorRegistry

from api.app import create_app
from api.settings import ApiSettings
from tests.alerting.conftest import finding
from tests.api.conftest import LOOPBACK, MemoryStore, bearer, token_settings

# Alertmanager 0.25's webhook as captured in /work/shared/reference/monitor.md.
AM_FIRING = {
    "receiver": "ci-webhook", "status": "firing",
    "alerts": [{"status": "firing",
                "labels": {"alertname": "NetmonLinkDown", "device": "core-sw1", "env": "ci",
                           "iface": "eth1", "instance": "127.0.0.1:19100", "job": "netmon",
                           "severity": "critical"},
                "annotations": {"description": "netmon_link_up is 0 for core-sw1/eth1",
                                "summary": "Link core-sw1/eth1 is down"},
                "startsAt": "2026-01-05T00:00:00.713Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://vm:19090/graph?g0.expr=netmon_link_up+%3D%3D+0",
                "fingerprint": "df5b9f56b56dd3ea"}],
    "groupLabels": {"alertname": "NetmonLinkDown", "device": "core-sw1"},
    "commonLabels": {"alertname": "NetmonLinkDown"}, "commonAnnotations": {},
    "externalURL": "http://vm:19093", "version": "4",
    "groupKey": "{}:{alertname=\"NetmonLinkDown\", device=\"core-sw1\"}",
    "truncatedAlerts": 0}

CONFIG = {"route": {"receiver": "default", "group_by": ["..."], "group_wait_secs": 0,
                    "group_interval_secs": 60, "repeat_interval_secs": 3600},
          "resolve_after_secs": 600}


@pytest.fixture
def api(build):
    h = build(CONFIG)
    audited = []
    app = create_app(ApiSettings(tokens=token_settings()), store=MemoryStore(),
                     registry=CollectorRegistry(), audit=audited.append, alerting=h.service)
    h.audited = audited
    h.client = lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=app,
                                                                       client=LOOPBACK),
                                         base_url="http://shouwang.test")
    return h


async def test_operator_reads_alerts_filtered_by_state_severity_and_matcher(api):
    await api.take(finding("ssh", "high", **{"host.name": "web1"}))
    await api.take(finding("sqli", "critical", **{"host.name": "web2"}))
    async with api.client() as client:
        everything = await client.get("/api/v1/alerts", headers=bearer("operator"))
        critical = await client.get("/api/v1/alerts", params={"severity": "critical"},
                                    headers=bearer("operator"))
        web1 = await client.get("/api/v1/alerts", params={"matcher": 'host=~"web1"'},
                                headers=bearer("operator"))
        bad = await client.get("/api/v1/alerts", params={"matcher": 'host=~"("'},
                               headers=bearer("operator"))
    assert everything.json()["count"] == 2
    assert [a["labels"]["alertname"] for a in critical.json()["alerts"]] == ["sqli"]
    assert [a["labels"]["host"] for a in web1.json()["alerts"]] == ["web1"]
    assert bad.status_code == 400 and bad.json()["detail"]["parameter"] == "matcher"


async def test_operator_may_not_acknowledge_security_admin_may_and_it_is_audited(api):
    alert = await api.take(finding("ssh", "critical"))
    path = f"/api/v1/alerts/{alert.fingerprint}/acknowledge"
    async with api.client() as client:
        refused = await client.post(path, headers=bearer("operator"), json={})
        done = await client.post(path, headers=bearer("security_admin"),
                                 json={"comment": "on it"})
        missing = await client.post("/api/v1/alerts/nope/acknowledge",
                                    headers=bearer("system_admin"), json={})
    assert refused.status_code == 403
    assert done.status_code == 200
    assert done.json()["state"] == "acknowledged"
    assert done.json()["acknowledged_by"] == "security_admin"
    assert missing.status_code == 404
    actions = [(r["event.action"], r["http.response.status_code"]) for r in api.audited]
    assert ("POST /api/v1/alerts/{fingerprint}/acknowledge", 403) in actions
    assert ("POST /api/v1/alerts/{fingerprint}/acknowledge", 200) in actions


async def test_resolve_by_hand(api):
    alert = await api.take(finding("ssh", "high"))
    async with api.client() as client:
        answer = await client.post(f"/api/v1/alerts/{alert.fingerprint}/resolve",
                                   headers=bearer("system_admin"))
    assert answer.json()["state"] == "resolved"


async def test_silence_create_list_expire(api):
    now = api.clock.now
    async with api.client() as client:
        created = await client.post("/api/v1/silences", headers=bearer("security_admin"),
                                    json={"matchers": ['host="fw2"'], "ends_at": now + 3600,
                                          "comment": "swap"})
        listed = await client.get("/api/v1/silences", headers=bearer("audit_admin"))
        await api.take(finding(**{"host.name": "fw2"}))
        alerts = await client.get("/api/v1/alerts", params={"state": "silenced"},
                                  headers=bearer("operator"))
        expired = await client.delete(f"/api/v1/silences/{created.json()['id']}",
                                      headers=bearer("security_admin"))
        bad = await client.post("/api/v1/silences", headers=bearer("security_admin"),
                                json={"matchers": ["host"], "ends_at": now + 10})
    assert created.status_code == 201 and created.json()["created_by"] == "security_admin"
    assert listed.json()["silences"][0]["status"] == "active"
    assert alerts.json()["count"] == 1
    assert expired.json()["status"] == "expired"
    assert bad.status_code == 400
    assert api.receivers["default"].sent == []


async def test_maintenance_window_through_the_api(api):
    async with api.client() as client:
        created = await client.post("/api/v1/maintenance_windows",
                                    headers=bearer("system_admin"),
                                    json={"matchers": ['system="exam"'],
                                          "schedule": [{"weekdays": ["sunday"],
                                                        "times": [{"start_time": "02:00",
                                                                   "end_time": "04:00"}],
                                                        "location": "Asia/Shanghai"}]})
        bad_zone = await client.post("/api/v1/maintenance_windows",
                                     headers=bearer("system_admin"),
                                     json={"matchers": ['system="exam"'],
                                           "schedule": [{"location": "Mars/Olympus"}]})
    assert created.status_code == 201
    assert created.json()["kind"] == "maintenance_window"
    assert created.json()["status"] == "waiting"        # Monday morning: window closed
    assert bad_zone.status_code == 400


async def test_alertmanager_webhook_joins_the_lifecycle(api):
    async with api.client() as client:
        answer = await client.post("/api/v1/alertmanager", json=AM_FIRING)
        again = await client.post("/api/v1/alertmanager", json=AM_FIRING)
        resolved = copy.deepcopy(AM_FIRING)
        resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
        resolved["alerts"][0]["endsAt"] = "2026-01-05T00:00:05Z"
        api.clock.advance(10)
        done = await client.post("/api/v1/alertmanager", json=resolved)
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    [alert] = api.service.list_alerts()
    assert alert.occurrences == 2
    assert alert.labels["severity"] == "critical" and alert.labels["device"] == "core-sw1"
    assert alert.state.value == "resolved"
    assert done.status_code == 200
    await api.service.deliverer.drain()
    assert [n.alerts[0].labels["alertname"] for n in api.receivers["default"].sent] == \
        ["NetmonLinkDown"]


@pytest.mark.parametrize("mutate, reason", [
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.pop("alerts"), "alerts"),
    (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alertname"),
    (lambda p: p["alerts"][0].update(startsAt="yesterday"), "startsAt"),
    (lambda p: p["alerts"][0].update(status="burning"), "status"),
])
async def test_malformed_alertmanager_webhook_is_400_with_the_reason(api, mutate, reason):
    payload = copy.deepcopy(AM_FIRING)
    mutate(payload)
    async with api.client() as client:
        answer = await client.post("/api/v1/alertmanager", json=payload)
        not_json = await client.post("/api/v1/alertmanager", content=b"{nope")
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"]
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    assert api.service.list_alerts() == []
