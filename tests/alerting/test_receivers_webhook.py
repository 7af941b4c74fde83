"""Webhook receiver against a local server that checks the Alertmanager v4 schema, plus the HTTP
failure rules every HTTP receiver shares (5xx/timeout/refused retryable, 4xx not)."""
from __future__ import annotations

import base64
import re
import socket

import pytest

from alerting.model import AlertState
from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from tests.alerting.test_receivers_support import (LocalHttpServer, make_alert, make_context,
                                                   make_notification, metric)

V4_KEYS = {"receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
           "externalURL", "version", "groupKey", "truncatedAlerts"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
              "fingerprint"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")


def v4_problems(body: dict) -> list[str]:
    """What Alertmanager's webhook consumers rely on (configuration.md, real 0.25 captures)."""
    problems = []
    if set(body) != V4_KEYS:
        problems.append(f"keys {sorted(set(body) ^ V4_KEYS)}")
    if body.get("version") != "4" or body.get("status") not in ("firing", "resolved"):
        problems.append("version/status")
    if not isinstance(body.get("truncatedAlerts"), int):
        problems.append("truncatedAlerts")
    for alert in body.get("alerts", []):
        if set(alert) != ALERT_KEYS:
            problems.append(f"alert keys {sorted(set(alert) ^ ALERT_KEYS)}")
        if not RFC3339.match(alert["startsAt"]) or not RFC3339.match(alert["endsAt"]):
            problems.append("times")
        if (alert["status"] == "firing") != (alert["endsAt"] == "0001-01-01T00:00:00Z"):
            problems.append("endsAt of a firing alert must be Go's zero time")
        if not all(isinstance(v, str) for v in {**alert["labels"], **alert["annotations"]}
                   .values()):
            problems.append("label values must be strings")
    return problems


@pytest.fixture
def hook():
    def answer(request):
        if request.headers.get("authorization") not in (None, "Bearer s3cr3t",
                                                        "Basic " + base64.b64encode(
                                                            b"am:pw").decode()):
            return 401, {"error": "unauthorized"}
        problems = v4_problems(request.json())
        return (400, {"problems": problems}) if problems else (200, {"status": "ok"})

    server = LocalHttpServer(answer)
    yield server
    server.close()


async def test_firing_and_resolved_payload_is_alertmanager_v4(hook):
    ctx = make_context()
    receiver = build_receiver("soc-bridge", {"type": "webhook", "url": hook.url + "/hook"}, ctx)
    firing = make_alert("LinkDown", fingerprint="df5b9f56b56dd3ea")
    resolved = make_alert("HighRTT", severity="medium", state=AlertState.RESOLVED)
    await receiver.send(make_notification(firing, resolved))
    body = hook.requests[0].json()
    assert body["status"] == "firing" and body["version"] == "4"
    assert body["alerts"][0]["startsAt"] == "2025-11-25T13:43:35.713Z"
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["alerts"][0]["fingerprint"] == "df5b9f56b56dd3ea"
    assert body["alerts"][1] == {**body["alerts"][1], "status": "resolved",
                                 "endsAt": "2025-11-25T13:48:35.713Z"}
    assert body["groupKey"] == '{}:{alertname="LinkDown"}' and body["truncatedAlerts"] == 0
    assert hook.requests[0].headers["content-type"].startswith("application/json")
    assert metric(ctx, "shouwang_receiver_messages_sent_total", receiver="soc-bridge",
                  type="webhook") == 1


async def test_max_alerts_truncates_and_counts(hook):
    receiver = build_receiver("r", {"type": "webhook", "url": hook.url, "max_alerts": 2},
                              make_context())
    await receiver.send(make_notification(*(make_alert(f"rule{i}") for i in range(5))))
    body = hook.requests[0].json()
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["rule0", "rule1"]
    assert body["truncatedAlerts"] == 3


async def test_send_resolved_false_drops_resolved_alerts_and_sends_nothing_when_none_left(hook):
    receiver = build_receiver("r", {"type": "webhook", "url": hook.url,
                                    "send_resolved": False}, make_context())
    await receiver.send(make_notification(make_alert(state=AlertState.RESOLVED)))
    assert hook.requests == []
    await receiver.send(make_notification(make_alert("a"), make_alert(
        "b", state=AlertState.RESOLVED)))
    assert [a["labels"]["alertname"] for a in hook.requests[0].json()["alerts"]] == ["a"]


async def test_bearer_token_and_basic_auth(hook, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t")
    monkeypatch.setenv("HOOK_PW", "pw")
    bearer = build_receiver("r", {"type": "webhook", "url": hook.url,
                                  "bearer_token": "env:HOOK_TOKEN"}, make_context())
    basic = build_receiver("r2", {"type": "webhook", "url": hook.url, "basic_auth": {
        "username": "am", "password": "env:HOOK_PW"}}, make_context())
    await bearer.send(make_notification())
    await basic.send(make_notification())
    monkeypatch.setenv("HOOK_TOKEN", "wrong")
    with pytest.raises(ReceiverError) as failure:
        await bearer.send(make_notification())
    assert failure.value.status == 401 and not failure.value.retryable
    assert "s3cr3t" not in str(failure.value) and "wrong" not in str(failure.value)


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (429, True),
                                               (400, False), (404, False)])
async def test_status_decides_retryable(status, retryable):
    server = LocalHttpServer(lambda request: (status, {"error": "x"}))
    try:
        ctx = make_context()
        receiver = build_receiver("r", {"type": "webhook", "url": server.url + "/h?token=abc"},
                                  ctx)
        with pytest.raises(ReceiverError) as failure:
            await receiver.send(make_notification())
        assert failure.value.retryable is retryable and failure.value.status == status
        assert "abc" not in str(failure.value)        # the token in the URL is masked
        assert metric(ctx, "shouwang_receiver_messages_failed_total", receiver="r",
                      type="webhook", retryable=str(retryable).lower()) == 1
    finally:
        server.close()


async def test_timeout_is_retryable():
    server = LocalHttpServer(lambda request: (200, {}), delay_secs=1.0)
    try:
        receiver = build_receiver("r", {"type": "webhook", "url": server.url,
                                        "timeout_secs": 0.2}, make_context())
        with pytest.raises(ReceiverError) as failure:
            await receiver.send(make_notification())
        assert failure.value.retryable and "timed out" in str(failure.value)
    finally:
        server.close()


async def test_connection_refused_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]          # closed when the block ends: nobody listens
    receiver = build_receiver("r", {"type": "webhook", "url": f"http://127.0.0.1:{port}/"},
                              make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.retryable


def test_bad_settings_are_config_errors_naming_the_key():
    from core.errors import ConfigError

    with pytest.raises(ConfigError) as failure:
        build_receiver("r", {"type": "webhook", "url": "ftp://x"}, make_context())
    assert "receivers.r.url" in str(failure.value)
    with pytest.raises(ConfigError) as failure:
        build_receiver("r", {"type": "webhok", "url": "http://x"}, make_context())
    assert "did you mean 'webhook'" in str(failure.value)
    with pytest.raises(ConfigError):
        build_receiver("r", {"type": "webhook", "url": "http://x", "token": "literal"},
                       make_context())
