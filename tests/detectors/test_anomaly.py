"""Rate anomalies against the hour-of-week baseline: spikes and drops after the warm-up."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml
from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.anomaly import SLOTS
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rule

BEIJING = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 16, tzinfo=BEIJING).timestamp()   # 00:00 local
BUCKET = 600


@pytest.fixture
def build(tmp_path):
    def make(**overrides):
        data = yaml.safe_load((DEFAULT_RULES_DIR / "fault-anomaly-request-rate.yaml")
                              .read_text(encoding="utf-8"))
        data.update({"bucket_secs": BUCKET, "samples_per_slot": 12, "min_slot_samples": 3,
                     **overrides})
        path = tmp_path / "fault-anomaly-request-rate.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return Engine.build([load_rule(path, default_rule_types())],
                            registry=CollectorRegistry(), allowed_lateness_secs=0)
    return make


def requests(start: float, end: float, per_bucket, host: str = "pss-lb-01") -> list[dict]:
    """`per_bucket(bucket start)` requests spread evenly over each bucket in [start, end)."""
    events = []
    bucket = start
    while bucket < end:
        count = per_bucket(bucket)
        for n in range(count):
            events.append({"@timestamp": format_ts(bucket + n * BUCKET / count),
                           "event.kind": "event", "event.dataset": "nginx.access",
                           "host.name": host, "http.response.status_code": 200})
        bucket += BUCKET
    return events


def usual(bucket: float) -> int:
    """Office hours busy (40 per 10 minutes), nights quiet (4)."""
    hour = datetime.fromtimestamp(bucket, BEIJING).hour
    return 40 if 8 <= hour < 18 else 4


def at(day: int, hour: float) -> float:
    return MONDAY + day * 86_400 + hour * 3600


def test_a_sustained_spike_after_the_warm_up_is_reported_once(build):
    engine = build()
    spike = lambda b: 300 if at(8, 10) <= b < at(8, 10.5) else usual(b)  # noqa: E731
    findings = engine.process(requests(MONDAY, at(8, 12), spike))
    assert len(findings) == 1
    finding = findings[0]
    assert finding["host.name"] == "pss-lb-01"
    assert finding["shouwang.fault.type"] == "anomaly"
    assert finding["shouwang.anomaly.direction"] == "up"
    assert finding["shouwang.anomaly.median"] == 40
    assert finding["shouwang.anomaly.score"] > 4
    assert finding["shouwang.anomaly.hour_of_week"] == 24 + 10   # Tuesday 10:00
    assert finding["@timestamp"] == format_ts(at(8, 10.5))       # the third bucket's end


def test_nothing_is_judged_during_the_warm_up(build):
    engine = build()
    spike = lambda b: 300 if at(2, 10) <= b < at(2, 11) else usual(b)  # noqa: E731
    assert engine.process(requests(MONDAY, at(3, 0), spike)) + engine.flush() == []


def test_seasonal_baseline_does_not_flag_the_usual_daily_rise(build):
    engine = build()
    assert engine.process(requests(MONDAY, at(9, 0), usual)) + engine.flush() == []


def test_traffic_dropping_to_zero_is_found_by_the_clock(build):
    engine = build()
    engine.process(requests(MONDAY, at(8, 14), usual))          # then nothing arrives
    findings = engine.advance(at(8, 15))
    assert len(findings) == 1
    assert findings[0]["shouwang.anomaly.direction"] == "down"
    assert findings[0]["shouwang.anomaly.value"] == 0
    assert findings[0]["host.name"] == "pss-lb-01"          # the key, found by the clock


def test_state_per_key_is_bounded(build):
    engine = build(samples_per_slot=3, min_slot_samples=3)
    engine.process(requests(MONDAY, at(15, 0), lambda b: 2))
    detector = engine.detectors[0]
    series = next(iter(detector.state._items.values()))
    assert len(series.slots) == SLOTS
    assert max(len(ring) for ring in series.slots if ring is not None) == 3
