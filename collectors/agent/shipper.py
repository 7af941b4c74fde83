"""Spool -> servers: the oldest spooled batch is sealed (crypto/channel.py), POSTed, and
removed from the spool only when a server answered 2xx (acknowledged delivery).

Contract:
- Oldest first, up to `max_in_flight` batches at once (default 8): while the server stores
  one batch the next ones are already on their way. Batches therefore reach the store in
  spool order give or take `max_in_flight`; every event keeps its own @timestamp. With
  max_in_flight 1 the order is exact.
- Failover in order: servers are tried in the configured order; the shipper stays with the
  first that answers 2xx, and goes back to the first server `failback_secs` after leaving it.
  When a whole round fails it waits (capped exponential backoff, up to `retry_max_secs`) and
  starts over at the first server.
- Nothing is dropped on a refusal: any non-2xx (including 4xx: wrong token, unknown agent,
  clock outside the server's window) keeps the batch spooled; the reason is counted
  (shouwang_agent_send_failures_total{server,reason}) and logged when a server's state
  changes. Only spool eviction loses data, and that is counted and reported.
- Every attempt is sealed afresh (new sequence number), so a retry after a lost answer is not
  a replay; the server may then store the batch twice, and its store keeps one copy per
  event.id (the id is given on the agent and travels in the spool).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx

from collectors.agent.codec import CONTENT_TYPE
from collectors.agent.metrics import AgentMetrics
from collectors.agent.spool import BatchSpool, Segment
from crypto.channel import ChannelSender

log = logging.getLogger(__name__)

BATCHES_PATH = "/api/v1/agent/batches"
RETRY_INITIAL_SECS = 0.2
IDLE_POLL_SECS = 1.0


@dataclass
class ServerLink:
    """One server: where, how to authenticate, and the channel sealing batches to its key."""

    url: str
    token: str = field(repr=False)
    sender: ChannelSender
    up: bool | None = None

    @property
    def name(self) -> str:
        return self.url.split("://", 1)[-1]


class Shipper:
    def __init__(self, spool: BatchSpool, links: list[ServerLink], metrics: AgentMetrics, *,
                 client: httpx.AsyncClient, retry_max_secs: float = 30.0,
                 failback_secs: float = 300.0, max_in_flight: int = 8,
                 clock: Callable[[], float] = time.monotonic):
        if not links:
            raise ValueError("at least one server")
        self.spool = spool
        self.links = links
        self.metrics = metrics
        self.client = client
        self.retry_max_secs = retry_max_secs
        self.failback_secs = failback_secs
        self.clock = clock
        self.current = 0
        self._left_first_at: float | None = None
        self._wake = asyncio.Event()
        self.max_in_flight = max(1, max_in_flight)
        self.batches_shipped = 0
        self.events_shipped = 0

    def notify(self) -> None:
        """A batch was spooled (called from the event loop)."""
        self._wake.set()

    @property
    def current_server(self) -> str:
        return self.links[self.current].name

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.max_in_flight)
        in_flight: set[asyncio.Task] = set()
        last_seq = -1
        try:
            while True:
                await slots.acquire()
                segment = await self._next_after(last_seq)
                last_seq = segment.seq
                task = asyncio.create_task(self._deliver(segment), name=f"ship-{segment.seq}")
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _task: slots.release())
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _next_after(self, seq: int) -> Segment:
        while True:
            self._wake.clear()
            segment = self.spool.next_after(seq)
            if segment is not None:
                return segment
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECS)
            except TimeoutError:
                pass

    async def _deliver(self, segment: Segment) -> None:
        delay = RETRY_INITIAL_SECS
        while True:
            try:
                payload = await asyncio.to_thread(self.spool.read, segment)
            except FileNotFoundError:
                return  # evicted while we tried; the sink reported it
            except OSError as exc:  # unreadable: keep it (and say so) rather than drop it
                log.error("cannot read spooled batch %s: %s; retrying", segment.path, exc)
                await asyncio.sleep(self.retry_max_secs)
                continue
            for index in self._order():
                link = self.links[index]
                if await self._send(link, payload, segment.events):
                    self._switch_to(index)
                    self.spool.remove(segment)
                    self.batches_shipped += 1
                    self.events_shipped += segment.events
                    return
                if not self.spool.contains(segment):
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_secs)

    def _order(self) -> list[int]:
        """Server indexes to try for this attempt: the current one, then the rest in order."""
        if (self.current != 0 and self._left_first_at is not None
                and self.clock() - self._left_first_at >= self.failback_secs):
            self.current = 0
        rest = [i for i in range(len(self.links)) if i != self.current]
        return [self.current] + rest

    def _switch_to(self, index: int) -> None:
        if index != self.current:
            log.info("shipping to %s now (was %s)", self.links[index].name, self.current_server)
            if self.current == 0:
                self._left_first_at = self.clock()
            self.current = index
        if index == 0:
            self._left_first_at = None

    async def _send(self, link: ServerLink, payload: bytes, events: int) -> bool:
        started = time.perf_counter()
        body = link.sender.seal(payload)
        try:
            response = await self.client.post(
                link.url + BATCHES_PATH, content=body,
                headers={"Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {link.token}"})
        except httpx.TimeoutException:
            return self._failed(link, "timeout", "no answer in time")
        except httpx.TransportError as exc:
            return self._failed(link, "connect", f"{type(exc).__name__}: {exc}")
        if not 200 <= response.status_code < 300:
            return self._failed(link, f"http_{response.status_code}", _error_text(response))
        self.metrics.ship_seconds.labels(link.name).observe(time.perf_counter() - started)
        self.metrics.shipped_batches.labels(link.name).inc()
        self.metrics.shipped_events.labels(link.name).inc(events)
        self._set_up(link, True, "")
        return True

    def _failed(self, link: ServerLink, reason: str, detail: str) -> bool:
        self.metrics.send_failures.labels(link.name, reason).inc()
        self._set_up(link, False, f"{reason}: {detail}")
        return False

    def _set_up(self, link: ServerLink, up: bool, detail: str) -> None:
        self.metrics.server_up.labels(link.name).set(1 if up else 0)
        if link.up is not up:  # log state changes only: a dead server must not flood the log
            if up:
                log.info("server %s accepts batches", link.name)
            else:
                log.warning("server %s did not take a batch (%s); batches stay spooled",
                            link.name, detail)
        link.up = up


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200]
    except Exception:
        return response.text[:200]
