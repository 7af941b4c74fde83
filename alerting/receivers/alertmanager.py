"""Alertmanager receiver (`type: alertmanager`): push alerts into an existing Alertmanager.

    POST <url>/api/v2/alerts     [{"labels", "annotations", "startsAt", "endsAt", "generatorURL"}]

(api/v2/openapi.yaml, docs/alerts_api.md.) Alertmanager then routes, groups, inhibits and
silences them like alerts from Prometheus. Client contract we follow: every alert carries an
``alertname`` label; a firing alert gets ``endsAt = now + firing_ttl_secs`` so that, if we stop
re-sending it (we crashed), Alertmanager resolves it on its own rather than keeping it forever;
a resolved alert carries its real end time. The alerting core re-sends firing alerts on its
repeat interval, which must be shorter than ``firing_ttl_secs``. Answer: 200 is success; 400
(validation) is not retryable; 5xx and connection failures are.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from alerting.model import Alert, Notification
from alerting.receivers.base import ReceiverContext
from alerting.receivers.http import HttpReceiver, HttpSettings, post_json
from alerting.receivers.webhook import BasicAuth, auth_headers, rfc3339
from core.secrets import SecretRef

DEFAULT_FIRING_TTL_SECS = 900.0


class AlertmanagerSettings(HttpSettings):
    type: Literal["alertmanager"] = "alertmanager"
    url: str = Field(pattern=r"^https?://", description="Alertmanager base URL, e.g. "
                     "http://127.0.0.1:9093 (or behind a path prefix)")
    send_resolved: bool = True
    firing_ttl_secs: float = Field(DEFAULT_FIRING_TTL_SECS, ge=60, le=7 * 86400,
                                   description="a firing alert not re-sent within this time "
                                   "resolves in Alertmanager")
    bearer_token: SecretRef | None = None
    basic_auth: BasicAuth | None = None


def api_alert(alert: Alert, *, now: float, firing_ttl_secs: float) -> dict[str, Any]:
    labels = dict(alert.labels)
    labels.setdefault("alertname", "shouwang")   # Alertmanager rejects alerts without it
    if alert.is_active:
        ends_at = now + firing_ttl_secs
    else:
        ends_at = alert.ends_at if alert.ends_at is not None else now
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    if alert.generator_url:            # must be a URI when present; omitted when unknown
        body["generatorURL"] = alert.generator_url
    return body


class AlertmanagerReceiver(HttpReceiver):
    type = "alertmanager"
    settings: AlertmanagerSettings

    async def send(self, notification: Notification) -> None:
        now = self.clock()
        alerts = [api_alert(alert, now=now, firing_ttl_secs=self.settings.firing_ttl_secs)
                  for alert in notification.alerts
                  if self.settings.send_resolved or alert.is_active]
        if not alerts:
            return
        await post_json(self.transport, self.name,
                        self.settings.url.rstrip("/") + "/api/v2/alerts", alerts,
                        timeout_secs=self.settings.timeout_secs,
                        headers=auth_headers(self.settings.bearer_token,
                                             self.settings.basic_auth))


def build(name: str, settings: AlertmanagerSettings,
          ctx: ReceiverContext) -> AlertmanagerReceiver:
    return AlertmanagerReceiver(name, settings, ctx)
