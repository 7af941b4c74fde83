"""Rate limit with aggregation: beyond 20 messages a minute, notifications are merged into one
digest sent when the window opens — nothing dropped. Time is an injected clock; delivery goes
to a real local DingTalk-like server so we count what a chat group would actually see."""
from __future__ import annotations

import asyncio

import pytest

from alerting.model import AlertState
from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from tests.alerting.test_receivers_support import (START, LocalHttpServer, make_alert,
                                                   make_context, make_notification, metric)


class Clock:
    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def robot():
    answers = []

    def answer(request):
        return answers.pop(0) if answers else (200, {"errcode": 0, "errmsg": "ok"})

    server = LocalHttpServer(answer)
    server.answers = answers
    yield server
    server.close()


def texts(robot):
    return [request.json()["markdown"]["text"] for request in robot.requests]


def limited(robot, clock, monkeypatch, deferred=None, **limit):
    monkeypatch.setenv("DING_TOKEN", "t")
    ctx = make_context(clock=clock)
    receiver = build_receiver("ding", {
        "type": "dingtalk", "url": robot.url, "access_token": "env:DING_TOKEN",
        "rate_limit": {"max_messages": 20, "window_secs": 60, **limit}}, ctx,
        on_deferred=(lambda ids, error: deferred.append((ids, error))) if deferred is not None
        else None)
    return receiver, ctx


async def test_storm_beyond_the_limit_becomes_one_digest_when_the_window_opens(
        robot, monkeypatch):
    clock = Clock()
    deferred = []
    receiver, ctx = limited(robot, clock, monkeypatch, deferred)
    for i in range(20):
        await receiver.send(make_notification(make_alert(f"rule{i}"), notification_id=f"n{i}"))
        clock.now += 1
    assert len(robot.requests) == 20
    for i in range(20, 35):                      # 15 more within the same minute: held
        await receiver.send(make_notification(make_alert(f"rule{i}"), notification_id=f"n{i}"))
    assert len(robot.requests) == 20
    assert receiver.pending_ids() == [f"n{i}" for i in range(20, 35)]
    assert await receiver.flush_due() is False   # the window is still full
    assert receiver.next_slot_in() == pytest.approx(40.0)

    clock.now = START + 60.5                     # the first send left the window
    assert await receiver.flush_due() is True
    assert len(robot.requests) == 21
    digest = robot.requests[20].json()["markdown"]
    assert "汇总 15 条通知" in digest["title"]
    assert all(f"rule{i}" in digest["text"] for i in range(20, 35))
    assert receiver.pending_ids() == []
    assert deferred == [([f"n{i}" for i in range(20, 35)], None)]
    assert metric(ctx, "shouwang_receiver_notifications_digested_total", receiver="ding") == 15
    assert metric(ctx, "shouwang_receiver_messages_sent_total", receiver="ding",
                  type="dingtalk") == 21


async def test_digest_deduplicates_alerts_latest_state_wins(robot, monkeypatch):
    clock = Clock()
    receiver, _ = limited(robot, clock, monkeypatch, max_messages=1)
    await receiver.send(make_notification(make_alert("first")))
    await receiver.send(make_notification(make_alert("LinkDown", fingerprint="fp1")))
    await receiver.send(make_notification(make_alert("LinkDown", fingerprint="fp1",
                                                     state=AlertState.RESOLVED)))
    await receiver.send(make_notification(make_alert("HighRTT", fingerprint="fp2")))
    clock.now += 61
    # A new notification when a slot is free goes out together with the held ones.
    await receiver.send(make_notification(make_alert("DiskFull", fingerprint="fp3")))
    assert len(robot.requests) == 2
    digest = robot.requests[1].json()["markdown"]
    assert "汇总 4 条通知" in digest["title"]
    assert digest["title"].startswith("[告警:3]")          # fp1, fp2, fp3: three alerts
    text = digest["text"]
    assert text.count("LinkDown") == 1 and "已恢复" in text


async def test_retryable_digest_failure_keeps_it_for_the_next_slot(robot, monkeypatch):
    clock = Clock()
    deferred = []
    receiver, _ = limited(robot, clock, monkeypatch, deferred, max_messages=1)
    await receiver.send(make_notification(make_alert("a"), notification_id="a"))
    await receiver.send(make_notification(make_alert("b"), notification_id="b"))
    robot.answers.append((503, {"error": "busy"}))
    clock.now += 61
    await receiver.flush_due()
    assert receiver.pending_ids() == ["b"] and deferred[0][1].retryable
    clock.now += 61
    await receiver.flush_due()
    assert receiver.pending_ids() == [] and deferred[1] == (["b"], None)
    assert len(robot.requests) == 3


async def test_refused_digest_is_dropped_and_reported(robot, monkeypatch):
    clock = Clock()
    deferred = []
    receiver, ctx = limited(robot, clock, monkeypatch, deferred, max_messages=1)
    await receiver.send(make_notification(notification_id="a"))
    await receiver.send(make_notification(notification_id="b"))
    robot.answers.append((200, {"errcode": 310000, "errmsg": "sign not match"}))
    clock.now += 61
    await receiver.flush_due()
    assert receiver.pending_ids() == []
    ids, error = deferred[0]
    assert ids == ["b"] and isinstance(error, ReceiverError) and not error.retryable
    assert metric(ctx, "shouwang_receiver_messages_failed_total", receiver="ding",
                  type="dingtalk", retryable="false") == 1


async def test_direct_send_failures_still_reach_the_caller(robot, monkeypatch):
    receiver, _ = limited(robot, Clock(), monkeypatch)
    robot.answers.append((500, {}))
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.retryable


async def test_run_loop_flushes_when_the_slot_opens(robot, monkeypatch):
    clock = Clock()
    slept = []

    async def sleep(secs):
        slept.append(secs)
        clock.now += secs                         # the fake sleep moves the clock
        await asyncio.sleep(0)

    monkeypatch.setenv("DING_TOKEN", "t")
    ctx = make_context(clock=clock, sleep=sleep)
    receiver = build_receiver("ding", {"type": "dingtalk", "url": robot.url,
                                       "access_token": "env:DING_TOKEN",
                                       "rate_limit": {"max_messages": 2, "window_secs": 60}},
                              ctx)
    loop_task = asyncio.create_task(receiver.run())
    try:
        for i in range(5):
            await receiver.send(make_notification(make_alert(f"r{i}")))
        for _ in range(100):
            if len(robot.requests) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(robot.requests) == 3 and slept == [60.0]
        assert "汇总 3 条通知" in robot.requests[2].json()["markdown"]["title"]
    finally:
        loop_task.cancel()


async def test_close_sends_what_is_pending(robot, monkeypatch):
    receiver, _ = limited(robot, Clock(), monkeypatch, max_messages=1)
    await receiver.send(make_notification(make_alert("a")))
    await receiver.send(make_notification(make_alert("b")))
    await receiver.aclose()
    assert len(robot.requests) == 2 and "b" in texts(robot)[1]
