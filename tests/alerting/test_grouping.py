"""group_wait / group_interval / repeat_interval timing, driven by a test clock."""
from __future__ import annotations

from tests.alerting.conftest import finding

TIMERS = {"receiver": "default", "group_by": ["alertname"], "group_wait_secs": 30,
          "group_interval_secs": 300, "repeat_interval_secs": 3600}


async def test_group_wait_zero_sends_at_once(build):
    h = build({"route": {**TIMERS, "group_wait_secs": 0}})
    await h.take(finding())
    assert len(h.receivers["default"].sent) == 1


async def test_group_wait_holds_the_first_notification(build):
    h = build({"route": TIMERS})
    await h.take(finding())
    await h.step(29)
    assert h.receivers["default"].sent == []
    await h.step(1)
    assert len(h.receivers["default"].sent) == 1


async def test_alert_resolved_within_group_wait_is_never_sent(build):
    h = build({"route": TIMERS, "resolve_after_secs": 10})
    await h.take(finding())
    await h.step(11)            # resolved before group_wait ends
    await h.step(19)            # group_wait over
    await h.step(3600)
    assert h.receivers["default"].sent == []


async def test_new_alert_in_a_flushed_group_waits_for_group_interval(build):
    h = build({"route": TIMERS, "resolve_after_secs": 10_000})
    await h.take(finding(**{"source.ip": "10.0.0.1"}))
    await h.step(30)
    await h.take(finding(**{"source.ip": "10.0.0.2"}))
    await h.step(299)
    assert len(h.receivers["default"].sent) == 1
    await h.step(1)
    sent = h.receivers["default"].sent
    assert len(sent) == 2 and len(sent[1].alerts) == 2


async def test_unchanged_group_repeats_on_repeat_interval_only(build):
    h = build({"route": TIMERS, "resolve_after_secs": 100_000})
    await h.take(finding())
    await h.step(30)
    for _ in range(11):           # 11 group intervals = 3300 s: nothing new, no repeat
        await h.step(300)
    assert len(h.receivers["default"].sent) == 1
    await h.step(300)             # 3600 s after the first send: repeated
    assert len(h.receivers["default"].sent) == 2
    assert h.receivers["default"].sent[1].notification_id != \
        h.receivers["default"].sent[0].notification_id
