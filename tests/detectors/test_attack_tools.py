"""Acceptance: real attack tools (Debian's nmap, hydra, sqlmap) against a real nginx on
127.0.0.1, watched by a real `shouwang run`: nginx's access and error logs through file_tail,
packets on `lo` through the packets source (BPF filter, root only). Each attack must show up as
a finding with the right ATT&CK technique within 5 s of the tool starting (an upper bound on
its first request); the measured latency is printed.

The tools only ever target 127.0.0.1, with bounded counts and times. The rules are the shipped
ones, unchanged: the point is that they see these tools as attacks, not that they know them
(sqlmap runs with --random-agent, so its User-Agent gives nothing away).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import httpx
import pytest

from tests.detectors.nginx_fixture import PASSWORD, USER, Nginx
from tests.support.monitor import SHOUWANG, MonitorProcess, free_port, write_config

MAX_LATENCY_SECS = 5.0
TOOL_TIMEOUT_SECS = 45

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"),
                       reason="nginx not installed (Debian package nginx)"),
    pytest.mark.skipif(shutil.which("htpasswd") is None,
                       reason="htpasswd not installed (Debian package apache2-utils)"),
]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="capture on lo and nmap -sS need "
                                "root (AF_PACKET and raw sockets)")


@pytest.fixture
def site(tmp_path):
    with Nginx(tmp_path / "nginx") as nginx:
        yield nginx


def start_monitor(tmp_path, nginx: Nginx, *, capture: bool = False) -> MonitorProcess:
    sources = {"web": {"type": "file_tail", "read_from": "beginning", "poll_interval_secs": 0.1,
                       "paths": [str(nginx.access_log), str(nginx.error_log)]}}
    if capture:
        sources["loopback"] = {
            "type": "packets", "interface": "lo", "protocols": [],
            # the scanned range only: the API and nginx ports are far above it
            "bpf_filter": "tcp portrange 1-200",
            # short flow timeouts: scans are seen as their probes end, not a minute later
            "flows": {"tcp_close_linger_secs": 0.3, "idle_timeout_secs": 2}}
    port = free_port()
    config = write_config(tmp_path / "shouwang.yaml", data_dir=tmp_path / "var", port=port,
                          sources=sources,
                          detection={"allowed_lateness_secs": 1.0, "tick_secs": 0.2})
    monitor = MonitorProcess([SHOUWANG, "run", "--config", str(config)], port).start()
    time.sleep(0.5)  # let the tail open its files and the capture socket bind
    return monitor


def browse(nginx: Nginx) -> None:
    """A few ordinary requests first: the attack must stand out of real traffic."""
    with httpx.Client(base_url=nginx.url, timeout=5) as client:
        for path in ("/", "/search?q=%E9%94%82%E7%94%B5%E6%B1%A0", "/item?id=CN112345678A",
                     "/favicon.ico"):
            client.get(path)
        client.get("/protected/", auth=(USER, PASSWORD))


def wait_for_finding(monitor: MonitorProcess, rule_ids: set[str], started: float,
                     timeout: float = 20.0) -> tuple[dict | None, float]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        response = monitor.api("/api/v1/events", filter="event.kind:alert", limit=1000)
        assert response.status_code == 200, response.text
        found = [e for e in response.json()["events"] if e.get("rule.id") in rule_ids]
        if found:
            return found[-1], time.time() - started
        time.sleep(0.05)
    return None, time.time() - started


def run_tool(argv: list[str]) -> subprocess.Popen:
    # cwd: hydra keeps a restore file in the working directory and, when it finds one from an
    # earlier run, waits 10 s before starting.
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=tempfile.mkdtemp(prefix="attack-tool-"))


def finish(process: subprocess.Popen) -> str:
    try:
        out, _ = process.communicate(timeout=TOOL_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate(timeout=10)
    return out.decode(errors="replace")


def report(tool: str, finding: dict, latency: float) -> None:
    print(f"\n{tool}: {finding['rule.id']} ({finding['threat.technique.id']}) "
          f"detected {latency:.2f} s after the tool started")


@needs_root
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap not installed")
@pytest.mark.parametrize("scan", ["-sS", "-sT"])
@pytest.mark.timeout(60)
def test_nmap_port_scan_is_detected_from_captured_flows(tmp_path, site, scan):
    monitor = start_monitor(tmp_path, site, capture=True)
    try:
        browse(site)
        started = time.time()
        tool = run_tool(["nmap", scan, "-p", "1-200", "127.0.0.1", "-n", "-Pn",
                         "--max-retries", "0", "--host-timeout", "30s"])
        finding, latency = wait_for_finding(monitor, {"scan-port-vertical"}, started)
        output = finish(tool)
        assert finding is not None, f"no scan finding\nnmap:\n{output}\n{monitor.output()}"
        report(f"nmap {scan}", finding, latency)
        assert finding["threat.technique.id"] == "T1046"
        assert finding["source.ip"] == "127.0.0.1" == finding["destination.ip"]
        assert latency < MAX_LATENCY_SECS
    finally:
        monitor.stop()


@pytest.mark.skipif(shutil.which("hydra") is None, reason="hydra not installed")
@pytest.mark.timeout(60)
def test_hydra_http_basic_auth_brute_force_is_detected(tmp_path, site):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["123456", "password", "admin", "qwerty", "letmein", "cnipa2026",
                                "welcome1", "Passw0rd", "admin123", "examiner", PASSWORD]) + "\n")
    monitor = start_monitor(tmp_path, site)
    try:
        browse(site)
        started = time.time()
        tool = run_tool(["hydra", "-I", "-l", USER, "-P", str(words), "-s", str(site.port), "-t", "4",
                         "-f", "-w", "5", "127.0.0.1", "http-get", "/protected/"])
        finding, latency = wait_for_finding(monitor, {"http-auth-brute-force"}, started)
        output = finish(tool)
        assert finding is not None, f"no brute-force finding\nhydra:\n{output}\n" \
                                    f"{monitor.output()}"
        report("hydra http-get", finding, latency)
        assert finding["threat.technique.id"] == "T1110"
        assert finding["source.address"] == "127.0.0.1"
        assert latency < MAX_LATENCY_SECS
        # The attack was real: hydra attacked (it sometimes loses a worker's connection on a
        # busy machine and then misses the password, which is not what this test is about).
        assert "[DATA] attacking http-get://127.0.0.1" in output, output
        assert finding["shouwang.evidence.count"] >= 5
    finally:
        monitor.stop()


@pytest.mark.skipif(shutil.which("sqlmap") is None, reason="sqlmap not installed")
@pytest.mark.timeout(90)
def test_sqlmap_injection_probing_is_detected(tmp_path, site):
    monitor = start_monitor(tmp_path, site)
    try:
        browse(site)
        started = time.time()
        tool = run_tool(["sqlmap", "-u", f"{site.url}/item?id=1", "--batch", "--level", "1",
                         "--risk", "1", "--technique", "BEU", "--random-agent",
                         "--flush-session", "--output-dir", str(tmp_path / "sqlmap"),
                         "--timeout", "5", "--retries", "0"])
        finding, latency = wait_for_finding(monitor, {"web-attack"}, started)
        output = finish(tool)
        assert finding is not None, f"no web attack finding\nsqlmap:\n{output}\n" \
                                    f"{monitor.output()}"
        report("sqlmap", finding, latency)
        assert finding["threat.technique.id"] == "T1190"
        assert "sqli" in finding["shouwang.web_attack.families"]
        assert latency < MAX_LATENCY_SECS
    finally:
        monitor.stop()
