"""WeCom group robot (`type: wecom`): a markdown message; the key in the URL is the credential.

Request (WeCom group-robot docs, quoted in shared/reference/monitor.md A2):

    POST <url>?key=<key>
    {"msgtype": "markdown", "markdown": {"content": "..."}}

No signature. The content is at most 4096 bytes of UTF-8: longer bodies are cut on a character
boundary with a visible mark (never an invalid byte sequence, which WeCom rejects). Mentions in
markdown are ``<@userid>`` (mobiles work only in text messages), added for firing alerts of the
``mention_severities``. Answer: {"errcode": 0} is success; -1 (busy) and 45009 (over the
frequency limit) are retryable, everything else (93000 bad key, 40058 bad content...) is not.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from alerting.model import Notification
from alerting.receivers.base import ReceiverContext
from alerting.receivers.im import ImReceiver, ImSettings, truncate_utf8
from alerting.templates.render import ImMessage
from core.secrets import SecretRef

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MAX_CONTENT_BYTES = 4096


class WeComSettings(ImSettings):
    type: Literal["wecom"] = "wecom"
    url: str = Field(DEFAULT_URL, pattern=r"^https?://[^?]*$",
                     description="robot endpoint without query (the key goes in key)")
    key: SecretRef = Field(description="the robot's webhook key")
    mention_userids: list[str] = Field(default_factory=list,
                                       description="WeCom user ids to <@mention>")
    mention_severities: list[Literal["critical", "high", "medium", "low"]] = Field(["critical"])


class WeComReceiver(ImReceiver):
    type = "wecom"
    max_body_bytes = MAX_CONTENT_BYTES
    retryable_codes = frozenset((-1, 45009))
    settings: WeComSettings

    def request(self, notification: Notification, message: ImMessage
                ) -> tuple[str, dict[str, Any]]:
        content = message.markdown
        if self.settings.mention_userids and any(
                alert.is_active and alert.severity in self.settings.mention_severities
                for alert in notification.alerts):
            mentions = "\n" + " ".join(f"<@{uid}>" for uid in self.settings.mention_userids)
            # The mention must survive the cut, so the body makes room for it.
            content = truncate_utf8(content, MAX_CONTENT_BYTES - len(mentions.encode()),
                                    "\n…") + mentions
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        return f"{self.settings.url}?key={self.settings.key.reveal()}", payload


def build(name: str, settings: WeComSettings, ctx: ReceiverContext) -> WeComReceiver:
    return WeComReceiver(name, settings, ctx)
