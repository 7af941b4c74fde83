"""Helpers for agent tests: keys, a server and an agent configuration, an agent process, and
counting what the server stored."""
from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import yaml

from crypto.sm2 import SM2PrivateKey
from tests.support.monitor import SHOUWANG, TEST_TOKEN, MonitorProcess, free_port

AGENT_TOKEN = "agent-token-for-e2e-only-0123456789"
AGENT_ID = "web-01"


def make_key(directory: Path, name: str) -> tuple[Path, Path]:
    key = SM2PrivateKey.generate()
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    private.write_bytes(key.to_pem())
    public.write_bytes(key.public_key.to_pem())
    return private, public


def server_config(path: Path, *, data_dir: Path, port: int, server_key: Path,
                  trusted: dict[str, Path], **agents) -> Path:
    config = {
        "node": {"name": "server", "data_dir": str(data_dir)},
        "api": {"host": "127.0.0.1", "port": port, "tokens": {
            "e2e": {"role": "system_admin", "sha256": hashlib.sha256(TEST_TOKEN.encode()).hexdigest()},
            "agents": {"role": "agent", "sha256": hashlib.sha256(AGENT_TOKEN.encode()).hexdigest()},
            "viewer": {"role": "operator",
                       "sha256": hashlib.sha256(b"viewer-token-for-e2e-only-012345").hexdigest()}}},
        "store": {"type": "sqlite"},
        "pipeline": {"batch_max_events": 2000, "batch_max_wait_secs": 0.05},
        "sources": {},
        "agents": {"identity_key": str(server_key),
                   "trusted": {agent: {"public_key": str(pub)} for agent, pub in trusted.items()},
                   **agents},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def agent_config(path: Path, *, data_dir: Path, agent_key: Path, servers: list[tuple[int, Path]],
                 sources: dict, metrics_port: int, agent_id: str = AGENT_ID,
                 spool: dict | None = None, batch_max_events: int = 2000, **agent) -> Path:
    token_file = path.parent / "agent.token"
    token_file.write_text(AGENT_TOKEN)
    config = {
        "node": {"name": "agent-host", "data_dir": str(data_dir)},
        "agent": {"id": agent_id, "identity_key": str(agent_key),
                  "servers": [{"url": f"http://127.0.0.1:{port}", "token": f"file:{token_file}",
                               "public_key": str(pub)} for port, pub in servers],
                  "metrics_listen": f"127.0.0.1:{metrics_port}",
                  "retry_max_secs": 0.5, "request_timeout_secs": 10, **agent},
        "spool": spool or {},
        "pipeline": {"batch_max_events": batch_max_events, "batch_max_wait_secs": 0.05},
        "sources": sources,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def server(config: Path, port: int) -> MonitorProcess:
    return MonitorProcess([SHOUWANG, "run", "--config", str(config)], port)


class AgentProcess(MonitorProcess):
    """`shouwang agent`, started and stopped like the monitor. Its readiness probe is the
    metrics listener: prometheus_client answers every path there, /healthz included."""

    def __init__(self, config: Path, metrics_port: int):
        super().__init__([SHOUWANG, "agent", "--config", str(config)], metrics_port)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(httpx.get(f"{self.url}/metrics", timeout=5).text)


_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    """'name{labels}' -> value, for every sample of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match[1]] = float(match[2])
    return samples


def server_metrics(monitor: MonitorProcess) -> dict[str, float]:
    return parse_metrics(httpx.get(f"{monitor.url}/metrics", timeout=5).text)


def stored(data_dir: Path, dataset: str | None = None) -> Counter:
    """message -> how many times the server's sqlite store holds it (optionally one dataset)."""
    counts: Counter = Counter()
    for db in sorted(data_dir.rglob("events-*.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as connection:
                query = "SELECT message FROM events"
                rows = (connection.execute(query + " WHERE dataset = ?", (dataset,))
                        if dataset else connection.execute(query))
                for (message,) in rows:
                    counts[message] += 1
        except sqlite3.Error:
            pass
    return counts


def stored_docs(data_dir: Path, dataset: str) -> list[dict]:
    docs = []
    for db in sorted(data_dir.rglob("events-*.db")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as connection:
            for (doc,) in connection.execute("SELECT doc FROM events WHERE dataset = ?",
                                             (dataset,)):
                docs.append(orjson.loads(doc))
    return docs


def write_lines(path: Path, start: int, count: int) -> None:
    with path.open("ab") as handle:
        for number in range(start, start + count):
            handle.write(orjson.dumps({"message": f"line-{number:07d}", "event.dataset": "app"}))
            handle.write(b"\n")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


__all__ = ["AgentProcess", "agent_config", "free_port", "make_key", "server", "server_config",
           "server_metrics", "stored", "stored_docs", "wait_for", "write_lines"]
