"""Per-receiver rate limit that aggregates instead of dropping: RateLimitedReceiver.

IM robots accept about 20 messages a minute and throttle a robot that sends more for ten
minutes (shared/reference/monitor.md A2), so during an alert storm the 21st message must not be
sent, and must not be lost either.

Semantics (sliding window of ``window_secs``, at most ``max_messages`` sends in it):
- Under the limit, ``send`` delivers at once, exactly like the wrapped receiver (same errors).
- At the limit, ``send`` does not deliver: it merges the notification into one pending digest
  and returns. Merging deduplicates alerts by fingerprint (a later state of the same alert,
  e.g. resolved after firing, replaces the earlier one), so the digest grows with distinct
  alerts, not with notifications.
- When a slot opens the digest goes out as ONE message (templates show "digest of N
  notifications" through ``digest_count``). Who sends it: ``flush_due()`` (the ``run()`` loop
  calls it when the next slot opens, and every ``send`` calls it first); a ``send`` that finds
  a slot free and a digest pending sends both together in that one message.
- A digest that fails retryably stays pending and is tried again at the next slot; one that
  fails for good is dropped and logged (and counted as a failed message, as every message is).
  Either way ``on_deferred`` (if given) is told the outcome with the notification ids it
  carried, so the alerting core can record them in its notification log.
- ``aclose()`` sends a pending digest once, ignoring the limit (one message over is better
  than losing the storm's alerts at shutdown).
Delivery guarantee: ``send`` returns ``DEFERRED`` for a notification it holds in the digest, so
the caller (alerting/delivery.py) keeps it pending in its outbox until ``on_deferred`` reports
the digest sent; a crash before then re-sends it from the outbox after the restart.

Every attempt uses a slot, failed or not: the robot counts requests, not successes.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections import deque
from typing import Any, Awaitable, Callable, Mapping, Protocol

from pydantic import Field

from alerting.model import Alert, Notification
from alerting.receivers.base import ReceiverError, ReceiverMetrics
from core.settings import StrictModel

log = logging.getLogger(__name__)

DEFERRED = "deferred"   # what send() returns for a notification held in the digest
DEFAULT_MAX_MESSAGES = 20
DEFAULT_WINDOW_SECS = 60.0


class RateLimitSettings(StrictModel):
    enabled: bool = True
    max_messages: int = Field(DEFAULT_MAX_MESSAGES, ge=1, le=10_000,
                              description="messages allowed per window")
    window_secs: float = Field(DEFAULT_WINDOW_SECS, gt=0, le=3600)


class DigestReceiver(Protocol):
    """A receiver whose templates can say "digest of N": ``send`` takes extra variables."""

    name: str

    async def send(self, notification: Notification,
                   extra: Mapping[str, Any] | None = None) -> None: ...


DeferredOutcome = Callable[[list[str], "ReceiverError | None"], Any]


def merge_notifications(notifications: list[Notification]) -> Notification:
    """One notification holding the alerts of all: deduplicated by fingerprint (the latest
    state wins, first position kept); labels and annotations common to all stay common."""
    first = notifications[0]
    alerts: dict[str, Alert] = {}
    for notification in notifications:
        for alert in notification.alerts:
            alerts[alert.fingerprint] = alert
    merged = list(alerts.values())

    def common(attr: str) -> dict[str, str]:
        maps = [getattr(n, attr) for n in notifications]
        return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}

    ids = [n.notification_id for n in notifications]
    return dataclasses.replace(
        first,
        group_key=f"digest:{first.group_key}",
        status="firing" if any(alert.is_active for alert in merged) else "resolved",
        group_labels=common("group_labels"),
        common_labels=common("common_labels"),
        common_annotations=common("common_annotations"),
        alerts=merged,
        notification_id="digest:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32],
    )


class RateLimitedReceiver:
    """Wraps a receiver with the rate limit and digest described in the module docstring."""

    def __init__(self, inner: DigestReceiver, settings: RateLimitSettings, *,
                 clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 metrics: ReceiverMetrics, on_deferred: DeferredOutcome | None = None):
        self.inner = inner
        self.name = inner.name
        self.type = getattr(inner, "type", "")
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._on_deferred = on_deferred
        self._attempts: deque[float] = deque()
        self._pending: list[Notification] = []   # kept merged: at most one entry
        self._pending_ids: list[str] = []
        self._pending_count = 0
        self._lock = asyncio.Lock()              # one attempt at a time keeps the count exact
        self._wake = asyncio.Event()

    # -- the receiver interface ------------------------------------------------------------
    async def send(self, notification: Notification,
                   extra: Mapping[str, Any] | None = None) -> str | None:
        async with self._lock:
            if not self._slot_free():
                self._hold(notification)
                return DEFERRED
            if not self._pending:
                self._attempts.append(self._clock())
                await self.inner.send(notification, extra)
                return
            # A slot and a pending digest: one message carries both.
            held = (list(self._pending), list(self._pending_ids), self._pending_count)
            self._hold(notification)
            try:
                await self._send_digest()
            except ReceiverError as exc:
                # The caller retries its own notification; the older ones stay pending when
                # the failure is retryable (else _send_digest has dropped them).
                if exc.retryable:
                    self._pending, self._pending_ids, self._pending_count = held
                raise

    async def flush_due(self) -> bool:
        """Send the pending digest if a slot is free; True when one was attempted."""
        async with self._lock:
            if not self._pending or not self._slot_free():
                return False
            try:
                await self._send_digest()
            except ReceiverError:
                pass                              # logged, counted and reported already
            return True

    async def run(self) -> None:
        """Flush digests as slots open, until cancelled. Waits are bounded by the window."""
        while True:
            delay = self.next_slot_in()
            if delay is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if delay > 0:
                await self._sleep(delay)
            await self.flush_due()

    async def aclose(self) -> None:
        async with self._lock:
            if self._pending:
                try:
                    await self._send_digest()
                except ReceiverError:
                    pass
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    # -- state ---------------------------------------------------------------------------
    def pending_ids(self) -> list[str]:
        """Notification ids held in the pending digest."""
        return list(self._pending_ids)

    def next_slot_in(self) -> float | None:
        """Seconds until a pending digest may be sent (0: now); None when nothing is pending."""
        if not self._pending:
            return None
        self._prune()
        if len(self._attempts) < self.settings.max_messages:
            return 0.0
        return max(0.0, self._attempts[0] + self.settings.window_secs - self._clock())

    def _prune(self) -> None:
        horizon = self._clock() - self.settings.window_secs
        while self._attempts and self._attempts[0] <= horizon:
            self._attempts.popleft()

    def _slot_free(self) -> bool:
        self._prune()
        return len(self._attempts) < self.settings.max_messages

    def _hold(self, notification: Notification) -> None:
        self._pending = [merge_notifications(self._pending + [notification])
                         if self._pending else notification]
        self._pending_ids.append(notification.notification_id)
        self._pending_count += 1
        self._metrics.digested.labels(self.name).inc()
        self._wake.set()

    async def _send_digest(self) -> None:
        """Send the pending digest (lock held). Clears it unless the failure is retryable."""
        digest, ids, count = self._pending[0], list(self._pending_ids), self._pending_count
        self._attempts.append(self._clock())
        try:
            await self.inner.send(digest, {"digest_count": count})
        except ReceiverError as exc:
            if not exc.retryable:
                self._pending, self._pending_ids, self._pending_count = [], [], 0
            log.warning("receiver %s: digest of %d notifications failed (%s): %s", self.name,
                        count, "kept for the next slot" if exc.retryable else "dropped", exc)
            self._report(ids, exc)
            raise
        self._pending, self._pending_ids, self._pending_count = [], [], 0
        self._report(ids, None)

    def _report(self, ids: list[str], error: ReceiverError | None) -> None:
        if self._on_deferred is not None:
            self._on_deferred(ids, error)
