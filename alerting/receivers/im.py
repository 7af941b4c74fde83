"""What the IM robot receivers (DingTalk, WeCom, Feishu) share.

Each robot module adds only its own part: the URL (and signature), the message body, and the
answer's error field. Here: settings every robot has, rendering through the templates, the
``send_resolved`` filter, cutting a body to the robot's byte limit on a UTF-8 boundary, and the
rule for answers: HTTP 200 with a non-zero error code is a failure (robots answer 200 to almost
everything), retryable only for the codes that mean "busy" or "too fast".
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from pydantic import Field

from alerting.model import Notification
from alerting.receivers.base import ReceiverContext, ReceiverError
from alerting.receivers.http import HttpReceiver, HttpReply, HttpSettings, post_json
from alerting.receivers.ratelimit import RateLimitSettings
from alerting.templates.render import ImMessage, TemplateRenderer, TemplateSettings

_CUT_MARK = {"zh": "\n\n…（内容过长，已截断）", "en": "\n\n… (too long, truncated)"}


class ImSettings(HttpSettings):
    send_resolved: bool = Field(True, description="also notify when alerts resolve")
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)


def truncate_utf8(text: str, max_bytes: int, mark: str = "") -> str:
    """``text`` cut so that it plus ``mark`` fits in ``max_bytes`` of UTF-8, never splitting a
    character; unchanged when it already fits."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(mark.encode("utf-8")))
    # errors="ignore" drops the partial character left at the cut.
    return data[:room].decode("utf-8", "ignore") + mark


def only_sendable(notification: Notification, send_resolved: bool) -> Notification | None:
    """The notification without resolved alerts when those are not wanted; None if empty."""
    if send_resolved:
        return notification
    firing = [alert for alert in notification.alerts if alert.is_active]
    if not firing:
        return None
    return dataclasses.replace(notification, alerts=firing, status="firing")


class ImReceiver(HttpReceiver):
    """Template rendering and answer checking; subclasses build the request."""

    max_body_bytes = 20_000
    error_field = "errcode"
    message_field = "errmsg"
    retryable_codes: frozenset[int] = frozenset()
    settings: ImSettings

    def __init__(self, name: str, settings: ImSettings, ctx: ReceiverContext):
        super().__init__(name, settings, ctx)
        self.renderer = TemplateRenderer(settings.templates, ctx.template_metrics)

    async def send(self, notification: Notification,
                   extra: Mapping[str, Any] | None = None) -> None:
        """Send one message; ``extra`` adds template variables (the rate limiter's
        ``digest_count``)."""
        sendable = only_sendable(notification, self.settings.send_resolved)
        if sendable is None:
            return
        message = self.renderer.im(sendable, dict(extra or {}))
        language = self.settings.templates.language or sendable.language
        body = truncate_utf8(message.markdown, self.max_body_bytes,
                             _CUT_MARK.get(language, _CUT_MARK["en"]))
        url, payload = self.request(sendable, dataclasses.replace(message, markdown=body))
        reply = await post_json(self.transport, self.name, url, payload,
                                timeout_secs=self.settings.timeout_secs)
        self.check_answer(reply)

    def request(self, notification: Notification, message: ImMessage
                ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def check_answer(self, reply: HttpReply) -> None:
        answer = reply.json()
        if not isinstance(answer, dict):
            raise ReceiverError(self.name, f"answer is not JSON: {reply.snippet()!r}",
                                retryable=False, status=reply.status)
        code = self.answer_code(answer)
        if code == 0:
            return
        if code is None:
            raise ReceiverError(self.name, f"answer has no {self.error_field}: "
                                f"{reply.snippet()!r}", retryable=False, status=reply.status)
        message = answer.get(self.message_field, answer.get("StatusMessage", ""))
        raise ReceiverError(self.name, f"robot refused the message: {self.error_field} "
                            f"{code} {message}", retryable=code in self.retryable_codes,
                            status=reply.status)

    def answer_code(self, answer: dict[str, Any]) -> int | None:
        try:
            return int(answer[self.error_field])
        except (KeyError, TypeError, ValueError):
            return None
