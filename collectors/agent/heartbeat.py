"""The agent's heartbeat: an event of dataset `shouwang.agent` every `interval_secs`.

It travels like any event (spool, channel, server), so its arrival proves the whole path
works; the server also keeps shouwang_agent_last_seen_timestamp_seconds{agent} per accepted
batch. Fields: agent.id, agent.name, agent.type, agent.version, host.name, and under
shouwang.agent.*: spool_bytes, spool_batches, events_shipped, batches_shipped, server.
Heartbeats are telemetry: queued with emit_nowait, dropped (and counted) if the queue is full.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from core.events import new_event
from core.pipeline import Emitter

HEARTBEAT_SOURCE_ID = "agent_heartbeat"
DATASET = "shouwang.agent"


class HeartbeatSource:
    def __init__(self, *, agent_id: str, version: str, hostname: str, interval_secs: float,
                 stats: Callable[[], dict]):
        self.id = HEARTBEAT_SOURCE_ID
        self.agent_id = agent_id
        self.version = version
        self.hostname = hostname
        self.interval_secs = interval_secs
        self._stats = stats

    def describe(self) -> list[str]:
        return [f"heartbeat every {self.interval_secs:g} s"]

    def event(self) -> dict:
        event = new_event(DATASET, kind="state",
                          message=f"agent {self.agent_id} heartbeat", agent__id=self.agent_id,
                          agent__name=self.hostname, agent__type="shouwang",
                          agent__version=self.version, host__name=self.hostname)
        event["event.action"] = "heartbeat"
        for key, value in self._stats().items():
            event[f"shouwang.agent.{key}"] = value
        return event

    async def run(self, emitter: Emitter) -> None:
        while True:
            emitter.emit_nowait([self.event()])
            await asyncio.sleep(self.interval_secs)
