"""A notification held in a rate-limited receiver's digest stays in the outbox until the digest
is sent: a crash before then sends it again after the restart (at least once)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerting.receivers.base import ReceiverMetrics
from alerting.receivers.ratelimit import RateLimitedReceiver, RateLimitSettings
from tests.alerting.conftest import FakeClock, finding

ROUTE = {"route": {"receiver": "im", "group_by": ["..."], "group_wait_secs": 0,
                   "group_interval_secs": 60, "repeat_interval_secs": 86400},
         "resolve_after_secs": 86400}


class Robot:
    name, type = "im", "test"

    def __init__(self):
        self.messages = []

    async def send(self, notification, extra=None):
        self.messages.append((notification, dict(extra or {})))


async def _no_sleep(secs):
    return None


def limited(clock):
    robot = Robot()
    limiter = RateLimitedReceiver(robot, RateLimitSettings(max_messages=1, window_secs=60),
                                  clock=clock, sleep=_no_sleep,
                                  metrics=ReceiverMetrics(CollectorRegistry()))
    return robot, limiter


def connect(harness, limiter):
    limiter._on_deferred = lambda ids, error: harness.service.deliverer.deferred_outcome(
        "im", ids, error)


async def test_digested_notifications_leave_the_outbox_only_when_the_digest_is_sent(build):
    clock = FakeClock()
    robot, limiter = limited(clock)
    h = build(ROUTE, receivers=("im",), clock=clock, receiver_objects={"im": limiter})
    connect(h, limiter)
    await h.take(finding("first", severity="critical"))
    await h.take(finding("second", severity="critical"))
    await h.take(finding("third", severity="critical"))
    assert len(robot.messages) == 1                                 # the limit: one a minute
    assert h.service.store.outbox_counts() == {"sent": 1, "pending": 2}
    clock.advance(61)
    await limiter.flush_due()
    [(digest, extra)] = robot.messages[1:]
    assert extra == {"digest_count": 2} and len(digest.alerts) == 2
    assert h.service.store.outbox_counts() == {"sent": 3}


async def test_a_crash_before_the_digest_resends_what_it_held(build, tmp_path):
    clock = FakeClock()
    state = tmp_path / "state"
    robot, limiter = limited(clock)
    first = build(ROUTE, receivers=("im",), clock=clock, state_dir=state,
                  receiver_objects={"im": limiter})
    connect(first, limiter)
    await first.take(finding("first", severity="critical"))
    await first.take(finding("second", severity="critical"))
    first.service.store.close()                     # dies with "second" only in the digest

    clock.advance(61)
    robot_after, limiter_after = limited(clock)
    second = build(ROUTE, receivers=("im",), clock=clock, state_dir=state,
                   receiver_objects={"im": limiter_after})
    connect(second, limiter_after)
    second.service.open()
    second.service.deliverer.kick()
    await second.service.deliverer.drain()
    sent_after = [n for n, _ in robot_after.messages]
    assert [a.labels["alertname"] for n in sent_after for a in n.alerts] == ["second"]
    assert second.service.store.outbox_counts() == {"sent": 2}
