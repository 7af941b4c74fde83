"""Feishu custom bot (`type: feishu`): an interactive card (or a post), signed in the body.

Request (Feishu custom-bot docs, quoted in shared/reference/monitor.md A2):

    POST <url>/<hook id>
    {"timestamp": "<s>", "sign": "<sign>", "msg_type": "interactive", "card": {...}}

Signature: timestamp in epoch **seconds**; sign = base64(HMAC-SHA256(key=timestamp + "\\n" +
secret, msg="")) — the HMAC of an empty message keyed by the string to sign, the inverse of
DingTalk's construction, and not URL-encoded. Signing the DingTalk way is answered with code
19021. Answer: {"code": 0} (older deployments: {"StatusCode": 0}) is success; 9499 and 11232
(frequency limits) are retryable, other codes are not.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
from typing import Any, Literal

from pydantic import Field

from alerting.model import Notification
from alerting.receivers.base import ReceiverContext
from alerting.receivers.im import ImReceiver, ImSettings
from alerting.templates.render import ImMessage
from core.secrets import SecretRef

DEFAULT_URL = "https://open.feishu.cn/open-apis/bot/v2/hook"
_HEADER_COLOR = {"critical": "red", "high": "orange", "medium": "yellow", "low": "blue"}


class FeishuSettings(ImSettings):
    type: Literal["feishu"] = "feishu"
    url: str = Field(DEFAULT_URL, pattern=r"^https?://[^?]*[^/?]$",
                     description="hook base URL; the hook id is appended")
    hook_id: SecretRef = Field(description="the id at the end of the bot's webhook URL")
    secret: SecretRef | None = Field(None, description="signature secret; unset: no sign")
    msg_format: Literal["card", "post"] = Field("card", description="interactive card with "
                                                "markdown, or a plain rich-text post")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="<s>\\n<secret>", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _without_heading(markdown: str) -> str:
    """The card header already shows the title; drop the body's own heading line."""
    first, _, rest = markdown.partition("\n")
    return rest.lstrip("\n") if first.startswith("#") else markdown


class FeishuReceiver(ImReceiver):
    type = "feishu"
    max_body_bytes = 28_000          # cards are limited to 30 KB including the envelope
    error_field = "code"
    message_field = "msg"
    retryable_codes = frozenset((9499, 11232))
    settings: FeishuSettings

    def request(self, notification: Notification, message: ImMessage
                ) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {}
        if self.settings.secret is not None:
            timestamp_s = int(self.clock())
            payload["timestamp"] = str(timestamp_s)
            payload["sign"] = feishu_sign(self.settings.secret.reveal(), timestamp_s)
        if self.settings.msg_format == "card":
            payload["msg_type"] = "interactive"
            payload["card"] = {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": message.title},
                           "template": self._color(notification)},
                "elements": [{"tag": "markdown", "content": _without_heading(message.markdown)}],
            }
        else:
            # A post is plain text: the markdown escapes would show, so they are undone.
            lines = html.unescape(_without_heading(message.markdown)).splitlines()
            payload["msg_type"] = "post"
            payload["content"] = {"post": {"zh_cn": {
                "title": message.title,
                "content": [[{"tag": "text", "text": line}] for line in lines]}}}
        return f"{self.settings.url}/{self.settings.hook_id.reveal()}", payload

    def answer_code(self, answer: dict[str, Any]) -> int | None:
        if "code" not in answer and "StatusCode" in answer:
            answer = {"code": answer["StatusCode"]}
        return super().answer_code(answer)

    @staticmethod
    def _color(notification: Notification) -> str:
        if notification.status != "firing":
            return "green"
        firing = [alert.severity for alert in notification.alerts if alert.is_active]
        for severity in ("critical", "high", "medium", "low"):
            if severity in firing:
                return _HEADER_COLOR[severity]
        return "blue"


def build(name: str, settings: FeishuSettings, ctx: ReceiverContext) -> FeishuReceiver:
    return FeishuReceiver(name, settings, ctx)
