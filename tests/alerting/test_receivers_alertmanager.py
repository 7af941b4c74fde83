"""Alertmanager receiver against Debian's real prometheus-alertmanager on 127.0.0.1: pushed
alerts show up in GET /api/v2/alerts with our labels, annotations, times and generatorURL;
a resolved push ends them; an alert Alertmanager refuses (400) is not retryable. Skipped with
the package name when the binary is missing (deploy/test-packages.txt lists it)."""
from __future__ import annotations

import time

import httpx
import pytest

from alerting.model import AlertState
from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from alerting.receivers.webhook import rfc3339
from tests.alerting.test_receivers_support import make_alert, make_context, make_notification
from tests.deploy.tools import alertmanager_server

pytestmark = pytest.mark.slow

CONFIG = """
route:
  receiver: blackhole
  group_wait: 1h
receivers:
  - name: blackhole
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("am")
    (workdir / "alertmanager.yml").write_text(CONFIG)
    server = alertmanager_server(workdir / "alertmanager.yml", workdir).start()
    yield server
    server.stop()


def active_alerts(alertmanager, alertname):
    answer = httpx.get(f"{alertmanager.url}/api/v2/alerts",
                       params={"filter": f'alertname="{alertname}"'}, timeout=5)
    answer.raise_for_status()
    return answer.json()


async def test_pushed_alert_is_active_in_alertmanager_then_resolved(alertmanager):
    now = time.time()
    receiver = build_receiver("am", {"type": "alertmanager", "url": alertmanager.url,
                                     "firing_ttl_secs": 600}, make_context(clock=lambda: now))
    alert = make_alert("SecBruteForce", labels={"device": "fw1"})
    await receiver.send(make_notification(alert))
    (shown,) = active_alerts(alertmanager, "SecBruteForce")
    assert shown["labels"] == alert.labels
    assert shown["annotations"] == alert.annotations
    assert shown["startsAt"].startswith("2025-11-25T13:43:35.713")
    assert shown["generatorURL"] == alert.generator_url
    assert shown["status"]["state"] == "active"
    # endsAt = now + firing_ttl_secs: Alertmanager resolves it if we stop re-sending
    assert shown["endsAt"][:19] == rfc3339(now + 600)[:19]
    resolved = make_alert("SecBruteForce", labels={"device": "fw1"}, state=AlertState.RESOLVED,
                          ends_at=now - 1)
    await receiver.send(make_notification(resolved))
    assert active_alerts(alertmanager, "SecBruteForce") == []


async def test_alert_alertmanager_refuses_is_not_retryable(alertmanager):
    receiver = build_receiver("am", {"type": "alertmanager", "url": alertmanager.url},
                              make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification(make_alert(labels={"bad-label name": "x"})))
    assert failure.value.status == 400 and not failure.value.retryable
