"""DingTalk custom robot (`type: dingtalk`): a markdown message, signed in the URL.

Request (DingTalk robot docs, quoted in shared/reference/monitor.md A2):

    POST <url>?access_token=<token>&timestamp=<ms>&sign=<sign>
    {"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles", "isAtAll"}}

Signature ("加签"): timestamp in epoch **milliseconds**; sign = urlencode(base64(
HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret))). Not the Feishu scheme (feishu.py).
@mentions: when a firing alert's severity is in ``at_severities``, the mobiles go in ``at`` and,
because DingTalk only pings people named in the text too, at the end of the text.
Answer: HTTP 200 with {"errcode": 0} is success; any other errcode is a failure (310000 = bad
signature or security setting; -1 busy and 130101/410100 "sending too fast" are retryable).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field

from alerting.model import Notification
from alerting.receivers.base import ReceiverContext
from alerting.receivers.im import ImReceiver, ImSettings
from alerting.templates.render import ImMessage
from core.secrets import SecretRef

DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"


class DingTalkSettings(ImSettings):
    type: Literal["dingtalk"] = "dingtalk"
    url: str = Field(DEFAULT_URL, pattern=r"^https?://[^?]*$",
                     description="robot endpoint without query (the token goes in access_token)")
    access_token: SecretRef = Field(description="the robot's access_token")
    secret: SecretRef | None = Field(None, description="加签 secret (SEC...); unset: no sign")
    at_mobiles: list[str] = Field(default_factory=list, description="mobiles to @")
    at_all: bool = Field(False, description="@all instead of at_mobiles")
    at_severities: list[Literal["critical", "high", "medium", "low"]] = Field(
        ["critical"], description="severities of firing alerts that trigger the @")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")), not yet URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkReceiver(ImReceiver):
    type = "dingtalk"
    max_body_bytes = 20_000          # DingTalk rejects larger markdown texts
    retryable_codes = frozenset((-1, 130101, 410100))
    settings: DingTalkSettings

    def request(self, notification: Notification, message: ImMessage
                ) -> tuple[str, dict[str, Any]]:
        query = {"access_token": self.settings.access_token.reveal()}
        if self.settings.secret is not None:
            timestamp_ms = int(self.clock() * 1000)
            query["timestamp"] = str(timestamp_ms)
            query["sign"] = dingtalk_sign(self.settings.secret.reveal(), timestamp_ms)
        text = message.markdown
        at: dict[str, Any] = {"atMobiles": [], "isAtAll": False}
        if self._wants_mention(notification):
            if self.settings.at_all:
                at["isAtAll"] = True
                text += "\n\n@all"
            elif self.settings.at_mobiles:
                at["atMobiles"] = list(self.settings.at_mobiles)
                text += "\n\n" + " ".join(f"@{mobile}" for mobile in self.settings.at_mobiles)
        payload = {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
                   "at": at}
        return f"{self.settings.url}?{urlencode(query)}", payload

    def _wants_mention(self, notification: Notification) -> bool:
        return any(alert.is_active and alert.severity in self.settings.at_severities
                   for alert in notification.alerts)


def build(name: str, settings: DingTalkSettings, ctx: ReceiverContext) -> DingTalkReceiver:
    return DingTalkReceiver(name, settings, ctx)
