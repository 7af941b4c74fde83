"""The engine as a user sees it: findings per key and window, event-time order, bounded state."""
from __future__ import annotations

import random

import pytest

from core.errors import ConfigError
from tests.detectors.conftest import auth_event, rule_text

THRESHOLD = """\
type: threshold
datasets: [system.auth]
match: {event.outcome: failure, process.name: {in: [sshd]}}
key: [source.ip]
window_secs: 60
threshold: 3
"""


def strip(findings):
    return [{k: v for k, v in f.items() if k != "event.created"} for f in findings]


def test_threshold_fires_once_per_key_and_window_then_rearms(make_engine):
    engine, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)})
    events = [auth_event(second) for second in range(10)]          # 10 failures in 10 s
    events += [auth_event(100 + second) for second in range(3)]    # after the window: again
    events += [auth_event(second, ip="198.51.100.1") for second in range(2)]  # under threshold
    findings = engine.process(events) + engine.flush()
    assert [f["source.ip"] for f in findings] == ["203.0.113.7", "203.0.113.7"]
    first = findings[0]
    assert first["event.kind"] == "alert"
    assert first["rule.id"] == "brute"
    assert first["threat.framework"] == "MITRE ATT&CK"
    assert first["threat.technique.id"] == "T1110"
    assert first["threat.technique.subtechnique.id"] == "T1110.001"
    assert first["threat.tactic.id"] == "TA0006"
    assert first["shouwang.severity"] == "medium" and first["event.severity"] == 47
    assert first["shouwang.incident_class"] == "III 较大事件"
    assert first["shouwang.evidence.count"] == 3
    assert first["shouwang.evidence.first_seen"] == events[0]["@timestamp"]
    assert first["shouwang.evidence.last_seen"] == events[2]["@timestamp"]
    assert first["shouwang.evidence.sample_event_ids"] == [e["event.id"] for e in events[:3]]
    assert first["related.ip"] == ["203.0.113.7"] and first["related.user"] == ["root"]
    assert "203.0.113.7 失败 3 次" in first["event.reason"]
    assert "3 from 203.0.113.7" in first["event.reason"]


def test_out_of_order_within_lateness_gives_the_same_findings_whatever_the_batches(make_engine):
    events = [auth_event(second * 7 % 50, ip=f"192.0.2.{second % 4}") for second in range(80)]
    ordered = sorted(events, key=lambda e: e["@timestamp"])
    results = []
    for stream, batch_size in ((ordered, 1000), (events, 1), (events, 7)):
        engine, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)},
                                allowed_lateness_secs=60)
        found = []
        for start in range(0, len(stream), batch_size):
            found += engine.process(stream[start:start + batch_size])
        results.append(strip(found + engine.flush()))
    assert results[0] and results[0] == results[1] == results[2]


def test_events_later_than_the_allowed_lateness_are_counted_not_used(make_engine):
    engine, registry = make_engine({"r.yaml": rule_text("brute", THRESHOLD)},
                                   allowed_lateness_secs=5)
    engine.process([auth_event(1000)])
    findings = engine.process([auth_event(10), auth_event(11), auth_event(12)])
    assert findings + engine.flush() == []
    assert registry.get_sample_value("shouwang_detector_late_events_total") == 3


def test_state_is_bounded_and_evictions_are_counted(make_engine):
    body = THRESHOLD + "max_keys: 10\n"
    engine, registry = make_engine({"r.yaml": rule_text("brute", body)})
    events = [auth_event(0.01 * n, ip=f"10.0.{n // 250}.{n % 250}") for n in range(500)]
    assert engine.process(events) + engine.flush() == []
    assert len(engine.detectors[0].state) == 10
    assert registry.get_sample_value("shouwang_detector_evicted_keys_total",
                                     {"rule": "brute"}) == 490


def test_the_reorder_buffer_holds_at_most_max_pending_events(make_engine):
    engine, registry = make_engine({"r.yaml": rule_text("brute", THRESHOLD)},
                                   max_pending_events=2)
    # five events within the lateness: without the bound all would wait; the oldest three are
    # shown to the rule early, enough for its threshold
    findings = engine.process([auth_event(n) for n in range(5)])
    assert [f["shouwang.evidence.count"] for f in findings] == [3]
    assert registry.get_sample_value("shouwang_detector_pending_events") == 2


def test_events_only_meet_rules_indexed_under_their_dataset(make_engine):
    web = THRESHOLD.replace("system.auth", "nginx.access")
    engine, registry = make_engine({"a.yaml": rule_text("auth", THRESHOLD),
                                    "w.yaml": rule_text("web", web)})
    event = auth_event(0)
    assert [d.id for d in engine.candidates(event)] == ["auth"]
    assert engine.candidates({**event, "event.dataset": "other"}) == ()
    engine.process([auth_event(0)])
    assert registry.get_sample_value("shouwang_detector_matched_events_total",
                                     {"rule": "auth"}) == 1


def test_rules_gated_by_their_values_still_take_every_form_of_them(make_engine):
    # gates skip rules whose required values an event lacks; the values' other forms (a list
    # field, a status code as a string) must still pass, and other values must not
    body = """\
    type: threshold
    datasets: [system.auth]
    match: {event.category: authentication, error.code: {in: [401]}, process.name: sshd}
    key: [source.ip]
    window_secs: 60
    threshold: 2
    """
    engine, registry = make_engine({"r.yaml": rule_text("gated", body)})
    events = [{**auth_event(0), "error.code": 401}, {**auth_event(1), "error.code": "401"},
              {**auth_event(2, process="sudo"), "error.code": 401},
              {**auth_event(3), "error.code": 403}, auth_event(4)]
    findings = engine.process(events) + engine.flush()
    assert [f["shouwang.evidence.count"] for f in findings] == [2]
    assert registry.get_sample_value("shouwang_detector_matched_events_total",
                                     {"rule": "gated"}) == 2


def test_findings_fed_back_do_not_trigger_rules(make_engine):
    engine, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)})
    alerts = [{**auth_event(n), "event.kind": "alert"} for n in range(5)]
    assert engine.process(alerts) + engine.flush() == []


def test_finding_ids_are_stable_across_replays(make_engine):
    events = [auth_event(n) for n in range(3)]
    first, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)})
    again, _ = make_engine({"r.yaml": rule_text("brute", THRESHOLD)})
    assert [f["event.id"] for f in first.process(events) + first.flush()] == \
        [f["event.id"] for f in again.process(events) + again.flush()]


def test_distinct_counts_different_values_per_key(make_engine):
    body = """\
    type: distinct
    categories: [authentication]
    match: {event.outcome: failure}
    key: [source.ip]
    field: user.name
    window_secs: 60
    threshold: 4
    """
    engine, _ = make_engine({"r.yaml": rule_text("spray", body)})
    same_user = [auth_event(n, user="root") for n in range(10)]
    many_users = [auth_event(20 + n, ip="192.0.2.9", user=f"user{n}") for n in range(4)]
    findings = engine.process(same_user + many_users) + engine.flush()
    assert len(findings) == 1
    assert findings[0]["source.ip"] == "192.0.2.9"
    assert findings[0]["related.user"] == ["user0", "user1", "user2", "user3"]


def test_sequence_success_after_failures(make_engine):
    body = """\
    type: sequence
    datasets: [system.auth]
    key: [source.ip]
    window_secs: 60
    steps:
      - match: {event.outcome: failure}
        min_count: 3
      - match: {event.outcome: success}
    """
    engine, _ = make_engine({"r.yaml": rule_text("seq", body)})
    events = [auth_event(n) for n in range(3)] + [auth_event(5, outcome="success", user="bob")]
    # a success after only two failures, and one after failures long ago: no finding
    events += [auth_event(n, ip="192.0.2.2") for n in (0, 1)] + \
        [auth_event(2, ip="192.0.2.2", outcome="success")]
    events += [auth_event(n, ip="192.0.2.3") for n in (0, 1, 2)] + \
        [auth_event(500, ip="192.0.2.3", outcome="success")]
    findings = engine.process(events) + engine.flush()
    assert [(f["source.ip"], f["related.user"]) for f in findings] == [("203.0.113.7", ["bob"])]


@pytest.mark.parametrize("body, where", [
    ("type: threshhold\nwindow_secs: 1\n", "did you mean 'threshold'"),
    (THRESHOLD.replace("threshold: 3", "threshold: 3\nmatch_extra: 1"), ":16 [match_extra]"),
    (THRESHOLD.replace("{in: [sshd]}", "{regex: '(?<=x)'}"), "invalid RE2 regex"),
])
def test_rule_errors_name_file_line_and_key(make_engine, body, where):
    with pytest.raises(ConfigError) as caught:
        make_engine({"bad.yaml": rule_text("bad", body)})
    assert "bad.yaml" in str(caught.value) and where in str(caught.value)
