"""Shared pieces of the alerting tests: a clock the test moves, receivers that record or fail,
and a builder of the service from an `alerting:` block given as a dict."""
from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from alerting.service import AlertingService
from alerting.settings import AlertingSettings

# 2026-01-05 is a Monday; 00:00 UTC = 08:00 Asia/Shanghai.
MONDAY_UTC = 1767571200.0


class FakeClock:
    def __init__(self, now: float = MONDAY_UTC):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        self.now += secs


class RecordingReceiver:
    """Keeps what it was sent; `fail` makes the next sends raise (a 500 from the far end)."""

    def __init__(self, clock=None):
        self.sent = []
        self.fail = 0
        self.hang = False
        self.calls = 0

    async def send(self, notification) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("HTTP 500 from receiver")
        self.sent.append(notification)

    def alertnames(self) -> list[list[str]]:
        return [[a.labels["alertname"] for a in n.alerts] for n in self.sent]


def finding(rule="ssh_bruteforce", severity="high", **fields) -> dict:
    event = {"event.kind": "alert", "rule.id": rule, "rule.name": rule,
             "shouwang.severity": severity, "event.id": f"id-{rule}-{len(fields)}"}
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


class Harness:
    def __init__(self, service, clock, receivers, registry):
        self.service = service
        self.clock = clock
        self.receivers = receivers
        self.registry = registry

    async def step(self, secs: float = 0.0) -> int:
        """Move time, run the timers, and wait for the sends they started."""
        self.clock.advance(secs)
        made = self.service.tick()
        await self.service.deliverer.drain()
        return made

    async def take(self, event: dict):
        alert = self.service.handle_finding(event)
        await self.service.deliverer.drain()
        return alert

    def sample(self, name, labels=None):
        return self.registry.get_sample_value(name, labels or {})


@pytest.fixture
def build(tmp_path):
    made = []

    def build_service(config: dict, *, receivers=("default",), clock=None, state_dir=None,
                      receiver_objects=None) -> Harness:
        clock = clock or FakeClock()
        settings = AlertingSettings.model_validate(
            {"receivers": {name: {"type": "test"} for name in receivers}, **config})
        receiver_objects = receiver_objects or {name: RecordingReceiver() for name in receivers}
        registry = CollectorRegistry()
        service = AlertingService(settings, receivers=receiver_objects,
                                  state_dir=state_dir or tmp_path / "alerting",
                                  registry=registry, clock=clock)
        service.open()
        harness = Harness(service, clock, receiver_objects, registry)
        made.append(harness)
        return harness

    yield build_service
    for harness in made:
        try:
            harness.service.store.close()
        except Exception:
            pass
