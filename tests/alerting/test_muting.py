"""Inhibition rules, topology folding of symptoms, silences and weekly maintenance windows."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerting.model import AlertState
from alerting.settings import TimeIntervalSpec
from tests.alerting.conftest import finding

NOW_ROUTE = {"receiver": "default", "group_by": ["..."], "group_wait_secs": 0,
             "group_interval_secs": 60, "repeat_interval_secs": 3600}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year, month, day, hour, minute=0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


async def test_critical_inhibits_warning_on_the_same_host_only(build):
    h = build({"route": {**NOW_ROUTE, "group_wait_secs": 5},
               "inhibit_rules": [{"source_matchers": ['severity="critical"'],
                                  "target_matchers": ['severity="medium"'],
                                  "equal": ["host"]}]})
    await h.take(finding("link_down", "critical", **{"host.name": "core-sw1"}))
    await h.take(finding("high_rtt", "medium", **{"host.name": "core-sw1"}))
    await h.take(finding("high_rtt", "medium", **{"host.name": "edge-sw2"}))
    await h.step(5)
    assert sorted(n[0] for n in h.receivers["default"].alertnames()) == \
        ["high_rtt", "link_down"]
    muted = [a for a in h.service.list_alerts() if a.state is AlertState.INHIBITED]
    assert [a.labels["host"] for a in muted] == ["core-sw1"]
    assert muted[0].inhibited_by == [h.service.list_alerts(
        matchers=(__import__("alerting.matchers").matchers.parse_matcher(
            'alertname="link_down"'),))[0].fingerprint]


async def test_symptoms_fold_into_the_root_cause_incident(build):
    h = build({"route": {**NOW_ROUTE, "group_wait_secs": 10}})
    root = await h.take(finding("db_down", "critical", **{"shouwang.component": "mysql-1",
                                                           "shouwang.root_cause": "mysql-1"}))
    web = await h.take(finding("http_5xx", "high", **{"shouwang.component": "exam-web",
                                                       "shouwang.symptom_of": "mysql-1"}))
    api = await h.take(finding("slow_api", "medium", **{"shouwang.component": "exam-api",
                                                         "shouwang.symptom_of":
                                                             root.fingerprint}))
    await h.step(10)
    sent = h.receivers["default"].sent
    assert [[a.labels["alertname"] for a in n.alerts] for n in sent] == [["db_down"]]
    assert sorted(sent[0].alerts[0].symptoms) == sorted([web.fingerprint, api.fingerprint])
    assert "http_5xx@exam-web" in sent[0].alerts[0].annotations["symptoms"]
    assert web.state is AlertState.INHIBITED and web.inhibited_by == [root.fingerprint]


async def test_symptom_without_an_active_root_notifies_on_its_own(build):
    h = build({"route": NOW_ROUTE})
    await h.take(finding("http_5xx", "high", **{"shouwang.symptom_of": "mysql-9"}))
    assert h.receivers["default"].alertnames() == [["http_5xx"]]


async def test_silence_mutes_until_it_expires(build):
    h = build({"route": {**NOW_ROUTE, "group_interval_secs": 60}, "resolve_after_secs": 10_000})
    silence = h.service.add_silence(matchers=['host="fw2"'], starts_at=None,
                                    ends_at=h.clock.now + 600, created_by="li",
                                    comment="replacing fw2")
    alert = await h.take(finding(**{"host.name": "fw2"}))
    await h.take(finding(**{"host.name": "fw1"}))
    assert [n.alerts[0].labels["host"] for n in h.receivers["default"].sent] == ["fw1"]
    assert alert.state is AlertState.SILENCED and alert.silenced_by == [silence.id]
    h.service.expire_silence(silence.id)
    assert h.service.silencer.get(silence.id).status(h.clock.now) == "expired"
    await h.step(60)
    assert [n.alerts[0].labels["host"] for n in h.receivers["default"].sent] == ["fw1", "fw2"]


async def test_silence_ends_by_itself_at_ends_at(build):
    h = build({"route": NOW_ROUTE, "resolve_after_secs": 10_000})
    h.service.add_silence(matchers=['host="fw2"'], starts_at=None,
                          ends_at=h.clock.now + 120, created_by="li")
    await h.take(finding(**{"host.name": "fw2"}))
    await h.step(60)
    assert h.receivers["default"].sent == []
    await h.step(60)
    assert len(h.receivers["default"].sent) == 1


async def test_weekly_maintenance_window_in_shanghai(build, tmp_path):
    from tests.alerting.conftest import FakeClock
    clock = FakeClock(at(2026, 1, 11, 1, 59))          # Sunday 01:59 Shanghai
    h = build({"route": {**NOW_ROUTE, "group_interval_secs": 60,
                         "repeat_interval_secs": 10 ** 7},
               "resolve_after_secs": 10 ** 7,
               "maintenance_windows": {"patching": {
                   "matchers": ['system="exam"'],
                   "schedule": [{"weekdays": ["sunday"], "location": "Asia/Shanghai",
                                 "times": [{"start_time": "02:00", "end_time": "04:00"}]}]}}},
              clock=clock)
    await h.take(finding("disk_full", **{"shouwang.system": "exam", "host.name": "a"}))
    assert len(h.receivers["default"].sent) == 1       # 01:59: not yet in the window
    h.clock.now = at(2026, 1, 11, 2, 0)
    await h.take(finding("disk_full", **{"shouwang.system": "exam", "host.name": "b"}))
    await h.take(finding("disk_full", **{"shouwang.system": "portal", "host.name": "c"}))
    assert [n.alerts[0].labels["host"] for n in h.receivers["default"].sent] == ["a", "c"]
    h.clock.now = at(2026, 1, 11, 3, 59)
    await h.step(0)
    assert len(h.receivers["default"].sent) == 2        # still inside
    h.clock.now = at(2026, 1, 11, 4, 0)                 # window over: b is sent now
    await h.step(0)
    assert [n.alerts[0].labels["host"] for n in h.receivers["default"].sent] == ["a", "c", "b"]
    # The next Sunday the window opens again; a Monday at 02:30 is not muted.
    h.clock.now = at(2026, 1, 12, 2, 30)
    await h.take(finding("disk_full", **{"shouwang.system": "exam", "host.name": "d"}))
    h.clock.now = at(2026, 1, 18, 2, 30)
    await h.take(finding("disk_full", **{"shouwang.system": "exam", "host.name": "e"}))
    assert [n.alerts[0].labels["host"] for n in h.receivers["default"].sent] == \
        ["a", "c", "b", "d"]


async def test_maintenance_window_created_through_the_service(build):
    from tests.alerting.conftest import FakeClock
    h = build({"route": NOW_ROUTE}, clock=FakeClock(at(2026, 1, 11, 2, 30)))
    window = h.service.add_silence(
        matchers=['host="db1"'], starts_at=None, ends_at=None, created_by="wang",
        schedule=[TimeIntervalSpec(weekdays=["sunday"], location="Asia/Shanghai",
                                   times=[{"start_time": "02:00", "end_time": "04:00"}])])
    assert window.kind == "maintenance_window"
    await h.take(finding(**{"host.name": "db1"}))
    assert h.receivers["default"].sent == []


async def test_route_mute_time_interval(build):
    from tests.alerting.conftest import FakeClock
    h = build({"route": {**NOW_ROUTE, "group_wait_secs": 1, "routes": [
                   {"matchers": ['severity="high"'], "mute_time_intervals": ["night"]}]},
               "resolve_after_secs": 10 ** 6,
               "time_intervals": {"night": [{"times": [{"start_time": "00:00",
                                                        "end_time": "08:00"}],
                                             "location": "Asia/Shanghai"}]}},
              clock=FakeClock(at(2026, 1, 6, 7, 0)))
    await h.take(finding())
    await h.step(1)
    assert h.receivers["default"].sent == []
    h.clock.now = at(2026, 1, 6, 8, 0)
    await h.step(60)
    assert len(h.receivers["default"].sent) == 1
