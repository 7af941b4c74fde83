"""Sigma correlation rules in the engine: event_count with group-by over a timespan,
value_count, temporal and temporal_ordered; conditions that cannot stream are rejected."""
from __future__ import annotations

import textwrap

from core.events import format_ts
from tests.detectors.test_sigma_support import engine_for, load_texts, rule_text

BASE = 1_795_000_000.0


def auth(second: float, ip: str, *, user: str = "root", outcome: str = "failure",
         message: str | None = None) -> dict:
    text = message or (f"Failed password for {user} from {ip} port 22 ssh2" if outcome ==
                       "failure" else f"Accepted password for {user} from {ip} port 22 ssh2")
    return {"@timestamp": format_ts(BASE + second), "event.id": f"{ip}-{second}-{user}",
            "event.kind": "event", "event.dataset": "system.auth", "process.name": "sshd",
            "source.ip": ip, "user.name": user, "event.outcome": outcome,
            "message": text, "event.original": f"Nov 25 gw sshd[1]: {text}"}


FAILED = rule_text("""
    keywords: ['Failed password for']
    condition: keywords""", logsource="product: linux\nservice: sshd", title="ssh failure",
    extra="name: ssh_failed\n", tags="[attack.credential-access, attack.t1110.001]")
ACCEPTED = rule_text("""
    keywords: ['Accepted password for']
    condition: keywords""", logsource="product: linux\nservice: sshd", title="ssh success",
    extra="name: ssh_accepted\n")


def correlation(body: str, *, title: str = "corr") -> str:
    return textwrap.dedent(f"""\
        title: {title}
        id: 0b6a7c53-37b4-4a5e-9f0c-3f3c4d2f{abs(hash(body)) % 10_000:04d}
        level: high
        correlation:
        """) + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def run(loaded, events):
    engine = engine_for(loaded)
    return engine.process(events) + engine.flush()


def test_event_count_by_source_ip_within_timespan(tmp_path):
    loaded = load_texts(tmp_path, FAILED, correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 5m
        condition: {gte: 5}"""))
    assert not loaded.rejected, loaded.rejected
    # the member rule (generate: false by default) raises nothing on its own
    assert [item.kind.name for item in loaded.active] == ["sigma_correlation"]
    slow = [auth(i * 100.0, "198.51.100.1") for i in range(6)]          # 5 in 500 s: no
    fast = [auth(1000 + i * 10.0, "203.0.113.9") for i in range(5)]     # 5 in 40 s: yes
    other = [auth(1000 + i * 10.0 + 1, "203.0.113.10") for i in range(4)]  # only 4
    findings = run(loaded, sorted(slow + fast + other, key=lambda e: e["@timestamp"]))
    assert len(findings) == 1
    finding = findings[0]
    assert finding["source.ip"] == "203.0.113.9"
    assert finding["shouwang.evidence.count"] == 5
    assert finding["rule.name"] == "corr" and finding["shouwang.severity"] == "high"
    # ATT&CK comes from the member rule when the correlation has no tags
    assert finding["threat.technique.id"] == "T1110"
    assert finding["threat.technique.subtechnique.id"] == "T1110.001"
    assert finding["threat.tactic.name"] == "Credential Access"


def test_event_count_fires_once_per_window_then_again(tmp_path):
    loaded = load_texts(tmp_path, FAILED, correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 60s
        condition: {gte: 3}"""))
    events = [auth(i * 5.0, "203.0.113.9") for i in range(12)]          # 12 in 55 s
    events += [auth(200 + i * 5.0, "203.0.113.9") for i in range(3)]   # a new burst later
    assert len(run(loaded, events)) == 2


def test_value_count_distinct_users_per_address(tmp_path):
    loaded = load_texts(tmp_path, FAILED, correlation("""
        type: value_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 10m
        condition: {gte: 4, field: User}"""))
    assert not loaded.rejected, loaded.rejected
    same_user = [auth(i, "198.51.100.7", user="root") for i in range(20)]
    spray = [auth(i, "203.0.113.5", user=name) for i, name in
             enumerate(["root", "admin", "root", "oracle", "test"])]
    findings = run(loaded, sorted(same_user + spray, key=lambda e: e["@timestamp"]))
    assert [f["source.ip"] for f in findings] == ["203.0.113.5"]
    assert set(findings[0]["related.user"]) == {"root", "admin", "oracle", "test"}


def test_temporal_all_rules_within_timespan_any_order(tmp_path):
    loaded = load_texts(tmp_path, FAILED, ACCEPTED, correlation("""
        type: temporal
        rules: [ssh_failed, ssh_accepted]
        group-by: [c-ip]
        timespan: 2m"""))
    assert not loaded.rejected, loaded.rejected
    events = [auth(0, "203.0.113.5", outcome="success"), auth(30, "203.0.113.5"),   # both: fire
              auth(0, "198.51.100.2"), auth(500, "198.51.100.2", outcome="success")]  # too far
    findings = run(loaded, sorted(events, key=lambda e: e["@timestamp"]))
    assert [f["source.ip"] for f in findings] == ["203.0.113.5"]


def test_temporal_ordered_needs_the_order(tmp_path):
    loaded = load_texts(tmp_path, FAILED, ACCEPTED, correlation("""
        type: temporal_ordered
        rules: [ssh_failed, ssh_accepted]
        group-by: [c-ip]
        timespan: 2m"""))
    events = [auth(0, "203.0.113.5"), auth(30, "203.0.113.5", outcome="success"),  # in order
              auth(0, "198.51.100.2", outcome="success"), auth(30, "198.51.100.2")]  # reversed
    findings = run(loaded, sorted(events, key=lambda e: e["@timestamp"]))
    assert [f["source.ip"] for f in findings] == ["203.0.113.5"]


def test_generate_true_keeps_member_findings(tmp_path):
    loaded = load_texts(tmp_path, FAILED, correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 60s
        generate: true
        condition: {gte: 2}"""))
    assert sorted(item.kind.name for item in loaded.active) == ["sigma", "sigma_correlation"]


def test_conditions_that_need_the_window_end_are_rejected(tmp_path):
    loaded = load_texts(tmp_path, FAILED, correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 60s
        condition: {lt: 2}"""))
    assert len(loaded.rejected) == 1
    assert "needs end-of-window evaluation" in loaded.rejected[0].reason


def test_state_is_bounded_per_rule(tmp_path):
    from detectors.sigma.loader import load_sigma_rules
    directory = tmp_path / "sigma"
    directory.mkdir()
    (directory / "a.yml").write_text(FAILED)
    (directory / "b.yml").write_text(correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 1h
        condition: {gte: 3}"""))
    loaded = load_sigma_rules([directory], max_keys=100)
    engine = engine_for(loaded)
    engine.process([auth(i * 0.01, f"10.0.{i // 250}.{i % 250}") for i in range(1000)])
    engine.flush()
    detector = engine.detectors[0]
    assert len(detector.state) == 100
    assert engine.metrics.evicted.labels(detector.id)._value.get() == 900
