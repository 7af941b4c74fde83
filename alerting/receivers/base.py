"""The receiver contract, its error, and the helpers every receiver shares.

    Receiver                 name + ``async send(notification) -> None``
    ReceiverError            delivery failed; ``retryable`` tells the outbox whether to try again
    ReceiverMetrics          shouwang_receiver_* counters on an injected prometheus registry

Contract of ``send``: it returns only when the far side accepted the notification (an IM robot
answered errcode 0, the SMTP server accepted the message, the TCP peer took the bytes). Any
failure raises ReceiverError; it never returns quietly after a failure, and it never retries by
itself: retries with backoff, the outbox and the notification log belong to the alerting core.

Retryable: timeouts, connection failures, 5xx, 429, an IM robot's "busy"/"too fast" codes, SMTP
4xx. Not retryable: 4xx, a rejected signature or token, SMTP 5xx, bad configuration. A
notification that nothing is to be sent for (send_resolved off and every alert resolved) is a
success.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Counter

from alerting.model import Notification
from alerting.templates.render import TemplateMetrics
from core.errors import ShouwangError

if TYPE_CHECKING:
    from alerting.receivers.http import HttpTransport

DEFAULT_TIMEOUT_SECS = 10.0
"""Per-request limit for every receiver: one slow robot must not hold the outbox for long."""

MAX_TIMEOUT_SECS = 120.0


@runtime_checkable
class Receiver(Protocol):
    """Something a notification can be sent to."""

    name: str

    async def send(self, notification: Notification) -> None: ...


class ReceiverError(ShouwangError):
    """Delivery failed. The message is safe to log: it never holds a secret or a token URL."""

    def __init__(self, receiver: str, message: str, *, retryable: bool,
                 status: int | None = None):
        self.receiver = receiver
        self.retryable = retryable
        self.status = status
        super().__init__(f"receiver {receiver}: {message}")


# Query parameters and path parts that carry credentials in robot URLs.
_SECRET_QUERY = re.compile(r"(?i)([?&](?:access_token|key|token|sign|secret)=)[^&#]*")
_FEISHU_HOOK = re.compile(r"(/bot/v2/hook/)[^/?#]+")
_USERINFO = re.compile(r"(//)[^/@]+@")


def mask_url(url: str) -> str:
    """The URL with tokens, keys, signatures and user:password replaced by ``***``."""
    url = _SECRET_QUERY.sub(r"\1***", url)
    url = _FEISHU_HOOK.sub(r"\1***", url)
    return _USERINFO.sub(r"\1***@", url)


class ReceiverMetrics:
    """Counters of one receiver, labelled by receiver name and type."""

    def __init__(self, registry: CollectorRegistry):
        self.sent = Counter("shouwang_receiver_messages_sent_total",
                            "messages the far side accepted (a digest counts once)",
                            ["receiver", "type"], registry=registry)
        self.failed = Counter("shouwang_receiver_messages_failed_total",
                              "messages that failed to be delivered",
                              ["receiver", "type", "retryable"], registry=registry)
        self.digested = Counter("shouwang_receiver_notifications_digested_total",
                                "notifications held back by a rate limit and sent inside a "
                                "digest", ["receiver"], registry=registry)


class MeteredReceiver:
    """Counts what a receiver delivers and fails to deliver; passes everything through."""

    def __init__(self, inner: Receiver, receiver_type: str, metrics: ReceiverMetrics):
        self.inner = inner
        self.name = inner.name
        self.type = receiver_type
        self._metrics = metrics

    async def send(self, notification: Notification, extra: Any = None) -> None:
        try:
            if extra is None:
                await self.inner.send(notification)
            else:
                # Only template-rendering receivers take extra (the rate limiter's digest_count).
                await self.inner.send(notification, extra)  # type: ignore[call-arg]
        except ReceiverError as exc:
            self._metrics.failed.labels(self.name, self.type, str(exc.retryable).lower()).inc()
            raise
        self._metrics.sent.labels(self.name, self.type).inc()

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


@dataclass
class ReceiverContext:
    """What receivers get from the application (no globals): one per application.

    ``http`` replaces the default httpx transport of every HTTP receiver (tests, proxies);
    ``sleep`` is what rate-limit flush loops wait with, so tests drive time themselves.
    """

    registry: CollectorRegistry
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    http: "HttpTransport | None" = None

    @cached_property
    def metrics(self) -> ReceiverMetrics:
        return ReceiverMetrics(self.registry)

    @cached_property
    def template_metrics(self) -> TemplateMetrics:
        return TemplateMetrics(self.registry)
