"""Floods against a baseline: SYN, UDP, ICMP and HTTP floods fire at the crossing; busy but
normal traffic, a slow daily rise and long bulk transfers do not."""
from __future__ import annotations

from itertools import count

from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules

T0 = 1_795_600_800.0
RULES = {item.rule.id: item for item in load_rules(DEFAULT_RULES_DIR, default_rule_types())}
_ids = count()
VICTIM = "198.51.100.80"


def engine(*rule_ids):
    return Engine.build([RULES[r] for r in rule_ids], registry=CollectorRegistry(),
                        clock=lambda: T0)


def flow(second, *, src="203.0.113.5", dst=VICTIM, transport="tcp", flags=("S",),
         packets=1, duration_secs=0.0):
    event = {"@timestamp": format_ts(T0 + second), "event.id": f"f{next(_ids)}",
             "event.kind": "event", "event.dataset": "network.flow", "event.action": "flow_end",
             "network.transport": transport, "source.ip": src, "destination.ip": dst,
             "source.packets": packets, "destination.packets": 0,
             "event.duration": int(duration_secs * 1e9)}
    if transport == "tcp":
        event["shouwang.flow.tcp_flags"] = list(flags)
    return event


def request(second, ip="192.0.2.9", path="/search?q=x"):
    return {"@timestamp": format_ts(T0 + second), "event.id": f"r{next(_ids)}",
            "event.kind": "event", "event.dataset": "nginx.access", "source.ip": ip,
            "url.path": path.split("?")[0], "http.response.status_code": 200}


def spread(per_window: int, start: float, secs: float, make):
    """`per_window` events per 10 s, evenly, from `start` for `secs`."""
    total = int(per_window * secs / 10)
    return [make(start + n * secs / total) for n in range(total)]


def run(eng, events):
    events = sorted(events, key=lambda e: e["@timestamp"])  # as a live stream would be
    return eng.process(events) + eng.flush()


def test_syn_flood_fires_at_the_crossing_with_its_baseline():
    normal = spread(60, 0, 300, lambda t: flow(t, src=f"192.0.2.{int(t) % 200 + 1}",
                                                flags=("S", "SA", "A", "PA", "FA")))
    # a few half-open flows belong to normal life too (clients giving up)
    background = spread(40, 0, 300, lambda t: flow(t, src="192.0.2.250"))
    flood = spread(20_000, 300, 10, lambda t: flow(t, src=f"10.{int(t * 1000) % 250}.0.1"))
    findings = run(engine("flood-syn"), normal + background + flood)
    assert len(findings) == 1
    finding = findings[0]
    assert finding["destination.ip"] == VICTIM
    assert finding["threat.technique.id"] == "T1499"
    assert finding["shouwang.rate.baseline"] == 40
    assert finding["shouwang.rate.threshold"] == 2000   # the floor: 5 x 40 is less
    # raised at the 2000th half-open flow of the window, about 1 s into the flood
    assert T0 + 300 < _epoch(finding) < T0 + 301.1


def test_baseline_raises_the_bar_for_a_busy_host_and_a_slow_rise_is_not_a_flood():
    # a busy edge server: 1800 half-open flows per 10 s (under the floor: a new key has no
    # baseline yet), rising 2% a window to 2.5 times the floor within 10 minutes
    windows = [1800 * 1.02 ** n for n in range(60)]
    assert windows[-1] > 2.5 * 2000
    events = []
    for n, per_window in enumerate(windows):
        events += spread(int(per_window), n * 10, 10, lambda t: flow(t))
    assert run(engine("flood-syn"), events) == []


def test_udp_flood_counts_packets_and_spreads_long_flows():
    # a legitimate 30-minute replication stream: 1.8M packets, 10k per 10 s
    bulk = [flow(0, src="192.0.2.30", transport="udp", packets=1_800_000, duration_secs=1800)]
    quiet = [flow(n * 10, src="192.0.2.31", transport="udp", packets=20) for n in range(60)]
    assert run(engine("flood-udp"), bulk + quiet) == []
    attack = [flow(600 + n * 0.1, src=f"10.0.{n}.1", transport="udp", packets=5_000,
                   duration_secs=0.1) for n in range(20)]
    findings = run(engine("flood-udp"), quiet + attack)
    assert [f["rule.id"] for f in findings] == ["flood-udp"]
    assert findings[0]["shouwang.evidence.count"] >= 50_000


def test_icmp_flood():
    pings = [flow(n, src="192.0.2.40", transport="icmp", packets=1) for n in range(300)]
    flood = [flow(300, src="203.0.113.9", transport="icmp", packets=40_000, duration_secs=2)]
    findings = run(engine("flood-icmp"), pings + flood)
    assert [f["threat.technique.subtechnique.id"] for f in findings] == ["T1498.001"]


def test_http_flood_against_the_site_and_from_one_address():
    normal = spread(200, 0, 1100, lambda t: request(t, ip=f"192.0.2.{int(t * 7) % 200 + 1}"))
    one_source = spread(3_000, 600, 10, lambda t: request(t, ip="203.0.113.77"))
    # later than renotify_secs (300) after the first: a new finding
    botnet = spread(8_000, 1000, 10, lambda t: request(t, ip=f"10.1.{int(t * 100) % 250}.9"))
    findings = run(engine("flood-http", "flood-http-source"), normal + one_source + botnet)
    got = sorted((f["rule.id"], f.get("source.ip") if f["rule.id"] == "flood-http-source"
                  else None) for f in findings)
    assert got == [("flood-http", None), ("flood-http", None),
                   ("flood-http-source", "203.0.113.77")]


def test_a_long_flood_is_one_finding_per_renotify_period():
    flood = spread(10_000, 0, 250, lambda t: flow(t, src="10.9.9.9"))
    findings = run(engine("flood-syn"), flood)
    assert len(findings) == 1


def _epoch(finding):
    from core.events import parse_ts
    return parse_ts(finding["@timestamp"])
