"""Delivery: the outbox is sent to receivers with per-receiver retries and backoff.

Contract:
- A receiver is any object with `async send(notification) -> None`; raising (or exceeding
  `timeout_secs`) is a failed attempt. Receivers come from alerting/receivers/catalog.py.
- Each receiver drains its own queue in its own task, so a slow or failing receiver never
  delays another. Within a receiver, entries that are due are sent oldest first; one that
  waits for its backoff does not hold up the others.
- A failed attempt is counted (outcome failed or timeout) and retried after
  backoff_initial_secs * 2**(attempts-1), capped at backoff_max_secs; after max_attempts the
  notification is given up (counted gave_up, kept in the outbox as failed, logged); an error
  with `retryable = False` (alerting/receivers/base.py ReceiverError) is given up at once.
- Before sending, the notification log is consulted: an id already delivered is not sent
  again (counted duplicate). After the receiver returns, the outbox row is marked sent and
  the id enters the log in one transaction.
Time comes from the injected clock, so tests drive backoff without sleeping; `drain()`
awaits the running sends.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping, Protocol

from alerting.metrics import AlertingMetrics
from alerting.model import Notification
from alerting.receivers.ratelimit import DEFERRED
from alerting.settings import DeliverySettings
from alerting.state_store import OutboxEntry, StateStore

log = logging.getLogger(__name__)


class Receiver(Protocol):
    async def send(self, notification: Notification) -> None: ...


class Deliverer:
    def __init__(self, receivers: Mapping[str, Receiver], store: StateStore,
                 metrics: AlertingMetrics, settings: DeliverySettings,
                 clock: Callable[[], float]):
        self.receivers = dict(receivers)
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.clock = clock
        self.queues: dict[str, list[OutboxEntry]] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self.on_delivered: Callable[[Notification], None] | None = None
        self._deferred: dict[str, OutboxEntry] = {}     # notification id -> entry in a digest

    def load(self) -> int:
        entries = self.store.pending()
        for entry in entries:
            self.queues.setdefault(entry.notification.receiver, []).append(entry)
        return len(entries)

    def enqueue(self, entries: list[OutboxEntry]) -> None:
        """Entries already written to the outbox; starts sending what is due."""
        for entry in entries:
            self.queues.setdefault(entry.notification.receiver, []).append(entry)
        self.kick()

    def kick(self) -> None:
        now = self.clock()
        for receiver, queue in self.queues.items():
            if receiver in self._tasks or not queue:
                continue
            if any(entry.next_attempt_at <= now for entry in queue):
                self._tasks[receiver] = asyncio.get_running_loop().create_task(
                    self._drain_receiver(receiver), name=f"alerting-send-{receiver}")

    def next_due_at(self) -> float | None:
        times = [e.next_attempt_at for q in self.queues.values() for e in q]
        return min(times) if times else None

    def pending_count(self) -> int:
        return sum(len(q) for q in self.queues.values())

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self, wait_secs: float = 5.0) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            done, still = await asyncio.wait(tasks, timeout=wait_secs)
            for task in still:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain_receiver(self, name: str) -> None:
        try:
            queue = self.queues[name]
            while True:
                now = self.clock()
                entry = next((e for e in queue if e.next_attempt_at <= now), None)
                if entry is None:
                    return
                delivered_or_given_up = await self._attempt(name, entry)
                if delivered_or_given_up:
                    queue.remove(entry)
        finally:
            self._tasks.pop(name, None)

    def _delivered(self, name: str, entry: OutboxEntry) -> None:
        now = self.clock()
        self.store.mark_sent(entry.notification.notification_id, name, now)
        self.metrics.notifications.labels(name, "sent").inc()
        self.metrics.latency.labels(name).observe(max(0.0, now - entry.origin_at))
        if self.on_delivered is not None:
            self.on_delivered(entry.notification)

    def deferred_outcome(self, name: str, ids: list[str], error: Exception | None) -> None:
        """A rate-limited receiver's digest carrying `ids` was sent (error None), will be
        retried by the receiver (retryable error), or was refused for good."""
        if error is not None and getattr(error, "retryable", True):
            return
        for nid in ids:
            entry = self._deferred.pop(nid, None)
            if entry is None:
                continue
            if error is None:
                self._delivered(name, entry)
            else:
                entry.attempts += 1
                self.store.mark_attempt(nid, entry.attempts, self.clock(), str(error),
                                        failed=True)
                self.metrics.notifications.labels(name, "gave_up").inc()

    async def _attempt(self, name: str, entry: OutboxEntry) -> bool:
        notification = entry.notification
        nid = notification.notification_id
        if self.store.was_sent(nid):
            self.store.mark_sent(nid, name, self.clock())
            self.metrics.notifications.labels(name, "duplicate").inc()
            return True
        receiver = self.receivers.get(name)
        outcome, error, permanent = "failed", "", False
        try:
            if receiver is None:
                raise LookupError(f"no receiver named {name!r} is configured")
            result = await asyncio.wait_for(receiver.send(notification),
                                            self.settings.timeout_secs)
        except asyncio.TimeoutError:
            outcome, error = "timeout", f"no answer within {self.settings.timeout_secs} s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:     # a receiver's failure is data here, never a crash
            error = f"{type(exc).__name__}: {exc}"
            # ReceiverError(retryable=False): a 4xx or bad settings; retrying cannot help.
            permanent = getattr(exc, "retryable", True) is False
        else:
            if result == DEFERRED:
                # Held in a rate-limited receiver's digest: it stays pending in the outbox
                # (a restart sends it again) until deferred_outcome() hears the digest went.
                self._deferred[nid] = entry
                self.metrics.notifications.labels(name, "deferred").inc()
                return True
            self._delivered(name, entry)
            return True
        entry.attempts += 1
        self.metrics.notifications.labels(name, outcome).inc()
        given_up = permanent or entry.attempts >= self.settings.max_attempts
        delay = min(self.settings.backoff_max_secs,
                    self.settings.backoff_initial_secs * 2 ** (entry.attempts - 1))
        entry.next_attempt_at = self.clock() + delay
        self.store.mark_attempt(nid, entry.attempts, entry.next_attempt_at, error,
                                failed=given_up)
        if given_up:
            self.metrics.notifications.labels(name, "gave_up").inc()
            log.error("notification %s to %s given up after %d attempts: %s", nid, name,
                      entry.attempts, error)
        else:
            log.warning("notification %s to %s failed (attempt %d, retry in %.1f s): %s", nid,
                        name, entry.attempts, delay, error)
        return given_up
