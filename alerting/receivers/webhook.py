"""Webhook receiver (`type: webhook`): the Alertmanager version-4 payload, byte for byte in shape.

Bridges written for Alertmanager (prometheus-webhook-dingtalk, PrometheusAlert, Nightingale's
intake) accept our notifications unchanged. Shape (Alertmanager docs, webhook_config; real 0.25
captures in shared/reference/monitor.md):

    {"receiver", "status", "alerts": [{"status", "labels", "annotations", "startsAt",
     "endsAt", "generatorURL", "fingerprint"}], "groupLabels", "commonLabels",
     "commonAnnotations", "externalURL", "version": "4", "groupKey", "truncatedAlerts"}

As Alertmanager does: times are RFC 3339 in UTC with trailing zeros trimmed; a firing alert's
endsAt is Go's zero time ``0001-01-01T00:00:00Z``; ``send_resolved: false`` drops resolved alerts
and sends nothing when none is left; ``max_alerts`` keeps the first N and counts the rest in
truncatedAlerts; the status is "firing" when any alert sent fires.
"""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from alerting.model import Alert, Notification
from alerting.receivers.base import ReceiverContext
from alerting.receivers.http import HttpReceiver, HttpSettings, post_json
from core.secrets import SecretRef
from core.settings import StrictModel

ZERO_TIME = "0001-01-01T00:00:00Z"   # Go's time.Time{} as Alertmanager marshals it


def rfc3339(epoch: float) -> str:
    """Go's RFC3339Nano in UTC: ``2026-11-25T13:43:35.713Z`` (no trailing zeros)."""
    micros = round(epoch * 1_000_000)
    moment = dt.datetime.fromtimestamp(micros // 1_000_000, dt.timezone.utc)
    fraction = f"{micros % 1_000_000:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


class BasicAuth(StrictModel):
    username: str = Field(min_length=1)
    password: SecretRef


class WebhookSettings(HttpSettings):
    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", description="where the JSON is POSTed")
    send_resolved: bool = Field(True, description="also notify when alerts resolve")
    max_alerts: int = Field(0, ge=0, description="alerts per message; 0 = all (as Alertmanager)")
    bearer_token: SecretRef | None = Field(None, description="sent as Authorization: Bearer")
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _one_auth(self):
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("use either bearer_token or basic_auth, not both")
        return self


def alert_payload(alert: Alert) -> dict[str, Any]:
    resolved = not alert.is_active
    ends_at = alert.ends_at if alert.ends_at is not None else alert.updated_at
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at) if resolved else ZERO_TIME,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payload(notification: Notification, *, send_resolved: bool = True,
                    max_alerts: int = 0) -> dict[str, Any] | None:
    """The version-4 body, or None when nothing is left to send."""
    alerts = [alert for alert in notification.alerts if send_resolved or alert.is_active]
    if not alerts:
        return None
    kept = alerts[:max_alerts] if max_alerts else alerts
    status = "firing" if any(alert.is_active for alert in alerts) else "resolved"
    return {
        "receiver": notification.receiver,
        "status": status,
        "alerts": [alert_payload(alert) for alert in kept],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(notification.common_labels),
        "commonAnnotations": dict(notification.common_annotations),
        "externalURL": notification.external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(kept),
    }


def auth_headers(bearer_token, basic_auth: BasicAuth | None) -> dict[str, str]:
    """Authorization header for the configured credentials (revealed at send time only)."""
    if bearer_token is not None:
        return {"Authorization": f"Bearer {bearer_token.reveal()}"}
    if basic_auth is not None:
        pair = f"{basic_auth.username}:{basic_auth.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


class WebhookReceiver(HttpReceiver):
    """POSTs the version-4 payload to ``url``."""

    type = "webhook"
    settings: WebhookSettings

    async def send(self, notification: Notification) -> None:
        payload = webhook_payload(notification, send_resolved=self.settings.send_resolved,
                                  max_alerts=self.settings.max_alerts)
        if payload is None:
            return
        await post_json(self.transport, self.name, self.settings.url, payload,
                        timeout_secs=self.settings.timeout_secs,
                        headers=auth_headers(self.settings.bearer_token,
                                             self.settings.basic_auth))


def build(name: str, settings: WebhookSettings, ctx: ReceiverContext) -> WebhookReceiver:
    return WebhookReceiver(name, settings, ctx)
