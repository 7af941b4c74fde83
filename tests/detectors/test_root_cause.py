"""Root-cause localization over real fault findings: one incident instead of many pages."""
from __future__ import annotations

import pytest

from detectors.root_cause import RootCauseLocalizer
from detectors.topology import load_topology
from tests.detectors.test_faults import metric, probe, run, shipped_engine

PE = "https://pe.ipo.example.cn/health"
TM = "https://tm.ipo.example.cn/health"
SEARCH = "https://pss.ipo.example.cn/"
CORE_DB = "core-db.ipo.example.cn:1521"
DNS = "dns.ipo.example.cn"


@pytest.fixture
def localizer():
    return RootCauseLocalizer(load_topology(), window_secs=900)


def failing(target, start=0, system=None, times=3):
    return [probe(start + 15 * n, target, False, system) for n in range(times)]


def by_component(findings):
    return {f["shouwang.component"]: f for f in findings}


def test_database_down_is_the_root_of_the_examination_and_trademark_probe_failures(localizer):
    engine = shipped_engine("fault-probe-failing")
    events = failing(CORE_DB) + failing(PE, 5, "patent-examination") + \
        failing(TM, 7, "trademark-registration")
    findings = localizer.annotate(run(engine, events))
    assert len(findings) == 3
    found = by_component(findings)
    assert set(found) == {"core-db", "pe-lb", "tm-lb"}
    for finding in findings:
        assert finding["shouwang.root_cause"] == "core-db"
        assert finding["shouwang.root_cause_system"] == "shared-infra"
    assert "shouwang.symptom_of" not in found["core-db"]
    assert found["pe-lb"]["shouwang.symptom_of"] == "core-db"
    assert found["tm-lb"]["shouwang.symptom_of"] == "core-db"
    assert found["pe-lb"]["shouwang.root_cause_event_id"] == found["core-db"]["event.id"]
    assert found["pe-lb"]["shouwang.system"] == "patent-examination"


def test_dns_down_makes_everything_a_symptom_of_dns(localizer):
    engine = shipped_engine("fault-probe-failing", "fault-host-metrics-silent")
    events = failing(PE, 0, "patent-examination") + failing(TM, 1, "trademark-registration")
    events += failing(SEARCH, 2, "public-search") + failing(CORE_DB, 3)
    events += failing("https://sso.ipo.example.cn/cas/login", 4)
    events += failing(DNS, 30)  # the DNS probe fails last: order does not matter
    findings = localizer.annotate(run(engine, sorted(events, key=lambda e: e["@timestamp"])))
    found = by_component(findings)
    assert set(found) == {"pe-lb", "tm-lb", "search-lb", "core-db", "sso", "dns"}
    assert {f["shouwang.root_cause"] for f in findings} == {"dns"}
    assert {c for c, f in found.items() if f.get("shouwang.symptom_of") == "dns"} == \
        set(found) - {"dns"}


def test_unrelated_faults_stay_separate(localizer):
    engine = shipped_engine("fault-probe-failing", "fault-disk-space-low")
    events = failing(PE, 0, "patent-examination")
    events.append(metric(20, "system.filesystem", **{
        "host.name": "search-idx-02", "system.filesystem.mount_point": "/index",
        "system.filesystem.type": "xfs", "system.filesystem.used.pct": 0.99}))
    findings = localizer.annotate(run(engine, events))
    found = by_component(findings)
    assert set(found) == {"pe-lb", "search-index"}
    assert found["pe-lb"]["shouwang.root_cause"] == "pe-lb"
    assert found["search-index"]["shouwang.root_cause"] == "search-index"
    assert found["search-index"]["shouwang.root_cause_system"] == "public-search"
    assert not any("shouwang.symptom_of" in f for f in findings)


def test_a_root_outside_the_window_no_longer_explains_new_failures(localizer):
    engine = shipped_engine("fault-probe-failing")
    localizer.annotate(run(engine, failing(CORE_DB)))
    later = localizer.annotate(run(shipped_engine("fault-probe-failing"),
                                   failing(PE, 3600, "patent-examination")))
    assert later[0]["shouwang.root_cause"] == "pe-lb"
    assert "shouwang.symptom_of" not in later[0]


def test_wrapped_delivery_annotates_and_leaves_security_findings_alone(localizer):
    delivered = []
    deliver = localizer.wrap(delivered.extend)
    engine = shipped_engine("fault-probe-failing")
    security = {"@timestamp": "2026-11-25T10:00:00Z", "rule.id": "ssh-brute-force",
                "host.name": "core-db-01", "event.kind": "alert"}
    deliver(run(engine, failing(CORE_DB) + failing(PE, 5, "patent-examination")) + [security])
    assert [f.get("shouwang.symptom_of") for f in delivered] == [None, "core-db", None]
    assert "shouwang.root_cause" not in delivered[2]


def test_the_window_of_recent_findings_is_bounded():
    localizer = RootCauseLocalizer(load_topology(), window_secs=900, max_findings=5)
    engine = shipped_engine("fault-probe-failing")
    events = []
    for n in range(20):
        events += failing(PE, 700 * n, "patent-examination")
    localizer.annotate(run(engine, events))
    assert len(localizer._recent) <= 5
