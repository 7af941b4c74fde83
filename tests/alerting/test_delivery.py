"""Outbox, notification log and retries: a restart neither loses nor repeats a notification;
a failing or hanging receiver is retried with backoff and blocks no other receiver."""
from __future__ import annotations

import asyncio

from alerting.model import Notification
from tests.alerting.conftest import FakeClock, RecordingReceiver, finding

ROUTE = {"route": {"receiver": "a", "group_by": ["..."], "group_wait_secs": 0,
                   "group_interval_secs": 60, "repeat_interval_secs": 86400,
                   "routes": [{"matchers": ['severity="critical"'], "receiver": "a",
                               "continue": True},
                              {"matchers": ['severity="critical"'], "receiver": "b"}]},
         "resolve_after_secs": 86400,
         "delivery": {"timeout_secs": 0.05, "max_attempts": 3, "backoff_initial_secs": 2,
                      "backoff_max_secs": 60}}


async def test_failing_receiver_is_retried_with_backoff_and_counted(build):
    h = build(ROUTE, receivers=("a", "b"))
    h.receivers["a"].fail = 2
    await h.take(finding(severity="critical"))
    assert len(h.receivers["b"].sent) == 1                 # b is not held up by a
    assert h.receivers["a"].sent == []
    await h.step(1.9)
    assert h.receivers["a"].calls == 1                     # backoff 2 s not over
    await h.step(0.1)
    assert h.receivers["a"].calls == 2                     # second failure: wait 4 s
    await h.step(4)
    assert len(h.receivers["a"].sent) == 1
    assert h.sample("shouwang_notifications_total", {"receiver": "a", "outcome": "failed"}) == 2
    assert h.sample("shouwang_notifications_total", {"receiver": "a", "outcome": "sent"}) == 1
    assert h.sample("shouwang_notification_latency_seconds_count", {"receiver": "a"}) == 1


async def test_hanging_receiver_times_out_and_others_are_delivered(build):
    h = build(ROUTE, receivers=("a", "b"))
    h.receivers["a"].hang = True
    h.service.handle_finding(finding(severity="critical"))
    await asyncio.sleep(0)
    await h.service.deliverer.drain()
    assert len(h.receivers["b"].sent) == 1
    assert h.sample("shouwang_notifications_total", {"receiver": "a", "outcome": "timeout"}) == 1


async def test_receiver_given_up_after_max_attempts(build):
    h = build(ROUTE, receivers=("a", "b"))
    h.receivers["a"].fail = 100
    await h.take(finding(severity="critical"))
    for _ in range(5):
        await h.step(60)
    assert h.receivers["a"].calls == 3
    assert h.sample("shouwang_notifications_total", {"receiver": "a", "outcome": "gave_up"}) == 1
    assert h.service.store.outbox_counts().get("failed") == 1


async def test_restart_resends_pending_outbox_without_duplicates(build, tmp_path):
    clock = FakeClock()
    state = tmp_path / "state"
    first = build(ROUTE, receivers=("a", "b"), clock=clock, state_dir=state)
    first.receivers["a"].fail = 1                            # a's first send fails
    await first.take(finding(severity="critical"))
    await first.take(finding("other", severity="critical"))
    assert len(first.receivers["b"].sent) == 2
    first.service.store.close()                             # the process dies here

    second = build(ROUTE, receivers=("a", "b"), clock=clock, state_dir=state)
    second.service.deliverer.kick()
    await second.service.deliverer.drain()
    await second.step(120)
    # a gets both notifications exactly once in total; b gets nothing again.
    ids_a = [n.notification_id for n in first.receivers["a"].sent + second.receivers["a"].sent]
    assert len(ids_a) == 2 and len(set(ids_a)) == 2
    assert second.receivers["b"].sent == []
    assert second.service.store.outbox_counts() == {"sent": 4}


async def test_notification_in_the_log_is_not_sent_again(build, tmp_path):
    """The crash window: the receiver returned and the log was written, the outbox row not
    yet marked. On restart the log wins."""
    h = build(ROUTE, receivers=("a", "b"))
    h.receivers["a"].fail = 1
    await h.take(finding(severity="critical"))
    [entry] = h.service.deliverer.queues["a"]
    nid = entry.notification.notification_id
    h.service.store.conn.execute("INSERT INTO sent_log VALUES (?, 'a', 0)", (nid,))
    await h.step(10)
    assert h.receivers["a"].sent == []
    assert h.sample("shouwang_notifications_total", {"receiver": "a", "outcome": "duplicate"}) \
        == 1


async def test_restart_mid_group_does_not_repeat_the_firing_notification(build, tmp_path):
    clock = FakeClock()
    config = {**ROUTE, "route": {**ROUTE["route"], "group_wait_secs": 30, "routes": []}}
    first = build(config, receivers=("a",), clock=clock, state_dir=tmp_path / "s")
    await first.take(finding())
    await first.step(30)
    assert len(first.receivers["a"].sent) == 1
    first.service.store.close()
    second = build(config, receivers=("a",), clock=clock, state_dir=tmp_path / "s")
    assert len(second.service.list_alerts()) == 1
    await second.step(30)
    await second.step(60)
    assert second.receivers["a"].sent == []
    await second.take(finding())                           # still the same alert
    assert second.service.list_alerts()[0].occurrences == 2
