"""The monitor as a user runs it: `make run`, a line appended to a watched file, the API."""
import os
import time
from pathlib import Path

import pytest

from tests.support.monitor import ROOT, SHOUWANG, MonitorProcess, free_port, write_config

pytestmark = pytest.mark.slow


def wait_for_events(monitor, timeout, **params):
    deadline = time.monotonic() + timeout
    while True:
        response = monitor.api("/api/v1/events", **params)
        assert response.status_code == 200, response.text
        events = response.json()["events"]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_make_run_shows_an_appended_line_within_2_seconds(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("")
    port = free_port()
    config = write_config(tmp_path / "shouwang.yaml", data_dir=tmp_path / "var", port=port,
                          sources={"auth": {"type": "file_tail", "paths": [str(log)],
                                            "format": "syslog"}})
    with MonitorProcess(["make", "--no-print-directory", "run", f"CONFIG={config}"], port) as monitor:
        assert monitor.api("/readyz").status_code == 200
        appended_at = time.monotonic()
        with log.open("a") as handle:
            handle.write("Nov 25 14:25:43 web1 sshd[4242]: Failed password for invalid user "
                         "admin from 203.0.113.7 port 50022 ssh2\n")
        events = wait_for_events(monitor, 2.0, q="203.0.113.7")
        elapsed = time.monotonic() - appended_at
        assert events, f"no event within 2 s:\n{monitor.output()}"
        assert elapsed < 2.0
        event = events[0]
        assert event["source.ip"] == "203.0.113.7"
        assert event["event.outcome"] == "failure"
        assert event["user.name"] == "admin"
        banner = monitor.output()
        assert str(log) in banner and f"http://127.0.0.1:{port}" in banner


def test_default_config_starts_and_serves_health_and_metrics():
    """`make run` with nothing but the shipped defaults (no tokens: loopback health only)."""
    port = 8700
    if os.environ.get("SHOUWANG_SKIP_DEFAULT_PORT"):
        pytest.skip("SHOUWANG_SKIP_DEFAULT_PORT set")
    with MonitorProcess(["make", "--no-print-directory", "run"], port) as monitor:
        import httpx

        metrics = httpx.get(f"{monitor.url}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "shouwang_source_up" in metrics.text
        # No token configured: the event API refuses, health stays open.
        assert httpx.get(f"{monitor.url}/api/v1/events", timeout=5).status_code == 401
        banner = monitor.output()
        assert "udp://127.0.0.1:5514" in banner and "tcp://127.0.0.1:5514" in banner


def test_a_brute_force_in_a_watched_log_becomes_a_stored_finding(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("")
    port = free_port()
    config = write_config(tmp_path / "shouwang.yaml", data_dir=tmp_path / "var", port=port,
                          sources={"auth": {"type": "file_tail", "paths": [str(log)],
                                            "format": "syslog"}},
                          detection={"allowed_lateness_secs": 1, "tick_secs": 0.2})
    with MonitorProcess(["shouwang", "run", "--config", str(config)], port,
                        env={"PATH": f"{Path(SHOUWANG).parent}:{os.environ['PATH']}"}) as monitor:
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        with log.open("a") as handle:
            for attempt in range(6):
                handle.write(f"{stamp} web1 sshd[{4300 + attempt}]: Failed password for root "
                             f"from 198.51.100.9 port {50000 + attempt} ssh2\n")
        findings = wait_for_events(monitor, 10.0, filter="event.kind:alert")
        assert findings, f"no finding:\n{monitor.output()}"
        finding = findings[0]
        assert finding["rule.id"] == "ssh-brute-force"
        assert finding["source.ip"] == "198.51.100.9"
        assert finding["threat.technique.subtechnique.id"] == "T1110.001" or \
            "T1110" in str(finding.get("threat.technique.id"))


def test_rules_reload_on_sighup_and_a_broken_rule_file_keeps_the_running_rules(tmp_path):
    import signal

    import httpx

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    shipped = (ROOT / "config/rules/ssh-brute-force.yaml").read_text()
    rule_file = rules_dir / "ssh-brute-force.yaml"
    rule_file.write_text(shipped.replace("threshold: 5", "threshold: 50"))
    log = tmp_path / "auth.log"
    log.write_text("")
    port = free_port()
    config = write_config(tmp_path / "shouwang.yaml", data_dir=tmp_path / "var", port=port,
                          sources={"auth": {"type": "file_tail", "paths": [str(log)],
                                            "format": "syslog"}},
                          detection={"rules_dir": str(rules_dir), "tick_secs": 0.2,
                                     "reload_poll_secs": 3600})

    def reloads(outcome):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(f'shouwang_rules_reloads_total{{outcome="{outcome}"}}'):
                return float(line.split()[-1])
        return 0.0

    def fail(count, first_pid):
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        with log.open("a") as handle:
            for n in range(count):
                handle.write(f"{stamp} web1 sshd[{first_pid + n}]: Failed password for root "
                             f"from 198.51.100.77 port {40000 + n} ssh2\n")

    with MonitorProcess([SHOUWANG, "run", "--config", str(config)], port) as monitor:
        fail(6, 100)
        time.sleep(1.5)
        assert wait_for_events(monitor, 0.5, filter="event.kind:alert") == []   # 6 < 50

        rule_file.write_text("type: threshold\nid: [broken\n")
        monitor.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while reloads("error") < 1:
            assert time.monotonic() < deadline, "a broken rule file was not reported"
            time.sleep(0.1)

        rule_file.write_text(shipped)                    # back to threshold 5
        monitor.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while reloads("ok") < 1:
            assert time.monotonic() < deadline, "the fixed rule file was not reloaded"
            time.sleep(0.1)
        fail(5, 200)
        findings = wait_for_events(monitor, 10.0, filter="event.kind:alert")
        assert [f["rule.id"] for f in findings] == ["ssh-brute-force"], monitor.output()
        assert "rules not reloaded" in monitor.output()
