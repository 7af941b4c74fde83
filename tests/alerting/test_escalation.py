"""Escalation of unacknowledged alerts and who is on call."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from alerting.oncall import Rotation
from alerting.settings import OncallSchedule
from tests.alerting.conftest import FakeClock, finding

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year, month, day, hour, minute=0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


SCHEDULE = {"timezone": "Asia/Shanghai", "handover_weekday": "monday",
            "handover_time": "09:00", "start_date": "2026-01-05",
            "rotation": [{"name": "张三", "receiver": "zhang"},
                         {"name": "李四", "receiver": "li"},
                         {"name": "王五", "receiver": "wang"}]}

CONFIG = {
    "route": {"receiver": "default", "group_by": ["..."], "group_wait_secs": 0,
              "group_interval_secs": 60, "repeat_interval_secs": 86400,
              "routes": [{"matchers": ['severity="critical"'], "receiver": "pager",
                          "escalation_policy": "critical"}]},
    "resolve_after_secs": 86400,
    "escalation_policies": {"critical": {"levels": [
        {"after_secs": 600, "oncall": ["secops"]},
        {"after_secs": 1800, "receivers": ["manager"]}]}},
    "oncall_schedules": {"secops": SCHEDULE},
}
RECEIVERS = ("default", "pager", "manager", "zhang", "li", "wang")


def test_weekly_rotation_hands_over_monday_0900_shanghai():
    rotation = Rotation("secops", OncallSchedule.model_validate(SCHEDULE))
    assert rotation.on_call(at(2026, 1, 5, 8, 59)).name == "张三"     # before the first handover
    assert rotation.on_call(at(2026, 1, 5, 9, 0)).name == "张三"
    assert rotation.on_call(at(2026, 1, 12, 8, 59)).name == "张三"
    assert rotation.on_call(at(2026, 1, 12, 9, 0)).name == "李四"     # handover
    assert rotation.on_call(at(2026, 1, 19, 9, 0)).name == "王五"
    assert rotation.on_call(at(2026, 1, 26, 9, 0)).name == "张三"     # wraps around
    assert rotation.next_handover(at(2026, 1, 13, 12, 0)) == at(2026, 1, 19, 9, 0)


def test_start_date_must_fall_on_the_handover_weekday():
    import pytest
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="is a tuesday"):
        OncallSchedule.model_validate({**SCHEDULE, "start_date": "2026-01-06"})


async def test_unacknowledged_critical_escalates_after_n_minutes(build):
    h = build(CONFIG, receivers=RECEIVERS, clock=FakeClock(at(2026, 1, 13, 10, 0)))
    await h.take(finding("db_down", "critical"))
    assert len(h.receivers["pager"].sent) == 1
    await h.step(599)
    assert h.receivers["li"].sent == []
    await h.step(1)                                   # 10 min: level 1 = whoever is on call
    [escalated] = h.receivers["li"].sent
    assert escalated.alerts[0].annotations["escalation_level"] == "1"
    assert h.receivers["zhang"].sent == [] and h.receivers["manager"].sent == []
    await h.step(1200)                                # 30 min: level 2 = the manager
    assert len(h.receivers["manager"].sent) == 1
    await h.step(3600)
    assert len(h.receivers["manager"].sent) == 1      # each level once


async def test_acknowledgement_stops_escalation(build):
    h = build(CONFIG, receivers=RECEIVERS, clock=FakeClock(at(2026, 1, 13, 10, 0)))
    alert = await h.take(finding("db_down", "critical"))
    await h.step(300)
    h.service.acknowledge(alert.fingerprint, "li")
    await h.step(3600)
    assert h.receivers["li"].sent == [] and h.receivers["manager"].sent == []
    assert h.service.get(alert.fingerprint).state.value == "acknowledged"


async def test_non_critical_route_does_not_escalate(build):
    h = build(CONFIG, receivers=RECEIVERS, clock=FakeClock(at(2026, 1, 13, 10, 0)))
    await h.take(finding("scan", "medium"))
    await h.step(7200)
    assert all(h.receivers[r].sent == [] for r in ("li", "zhang", "wang", "manager"))


async def test_escalation_survives_a_restart(build, tmp_path):
    clock = FakeClock(at(2026, 1, 13, 10, 0))
    first = build(CONFIG, receivers=RECEIVERS, clock=clock, state_dir=tmp_path / "s")
    await first.take(finding("db_down", "critical"))
    await first.step(300)
    first.service.store.close()
    second = build(CONFIG, receivers=RECEIVERS, clock=clock, state_dir=tmp_path / "s")
    await second.step(300)
    assert len(second.receivers["li"].sent) == 1
    assert second.receivers["pager"].sent == []       # not repeated after the restart
