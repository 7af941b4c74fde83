"""Delivery guarantees with real processes: kill -9 of the agent mid-stream and a server
outage lose nothing (exact count, duplicates bounded by one batch per crash); a spool that
fills while no server answers evicts its oldest batches, counts them and says so."""
import os
import threading
import time

import orjson
import pytest

from tests.agent.support import (AGENT_ID, AgentProcess, agent_config, free_port,
                                 server, server_config, stored, stored_docs, wait_for)

BATCH = 2000
# The server stays away for 60 s, as the issue asks (SHOUWANG_AGENT_OUTAGE_SECS=5 for a quick
# local run: the spool and the backoff do not care how long the server is away).
OUTAGE_SECS = float(os.environ.get("SHOUWANG_AGENT_OUTAGE_SECS", "60"))


class Writer(threading.Thread):
    """Appends numbered JSON lines to a log at a steady rate until stopped."""

    def __init__(self, path, lines_per_tick=200, tick_secs=0.02):
        super().__init__(daemon=True)
        self.path, self.lines_per_tick, self.tick_secs = path, lines_per_tick, tick_secs
        self.written = 0
        self.halt = threading.Event()

    def run(self):
        with self.path.open("ab") as handle:
            while not self.halt.is_set():
                for _ in range(self.lines_per_tick):
                    handle.write(orjson.dumps({"message": f"line-{self.written:07d}",
                                               "event.dataset": "app"}) + b"\n")
                    self.written += 1
                handle.flush()
                time.sleep(self.tick_secs)

    def stop(self) -> int:
        self.halt.set()
        self.join(10)
        return self.written


@pytest.mark.slow
@pytest.mark.timeout(OUTAGE_SECS + 240)
def test_kill_9_and_server_outage_lose_nothing(tmp_path, keys):
    log = tmp_path / "app.log"
    log.touch()
    port, metrics_port = free_port(), free_port()
    data = tmp_path / "server"
    config = server_config(tmp_path / "server.yaml", data_dir=data, port=port,
                           server_key=keys["server_key"], trusted={AGENT_ID: keys["agent_pub"]})
    agent = agent_config(tmp_path / "agent.yaml", data_dir=tmp_path / "agent",
                         agent_key=keys["agent_key"], servers=[(port, keys["server_pub"])],
                         metrics_port=metrics_port, heartbeat_secs=3600,
                         sources={"app": {"type": "file_tail", "paths": [str(log)],
                                          "format": "json", "read_from": "beginning"}})
    count = lambda: sum(stored(data, "app").values())  # noqa: E731
    writer = Writer(log)
    monitor = server(config, port).start()
    shipper = AgentProcess(agent, metrics_port).start()
    try:
        writer.start()
        wait_for(lambda: count() >= 3000, 20, "first lines on the server")
        shipper.kill9()
        shipper = AgentProcess(agent, metrics_port).start()
        before_outage = wait_for(lambda: (n := count()) >= 8000 and n, 20, "lines after restart")

        monitor.stop()
        time.sleep(OUTAGE_SECS)
        metrics = shipper.metrics()
        assert metrics["shouwang_agent_spool_batches"] > 0, "nothing spooled during the outage"
        assert any(name.startswith("shouwang_agent_send_failures_total") for name in metrics)
        monitor = server(config, port).start()
        total = writer.stop()
        assert total > before_outage
        wait_for(lambda: count() >= total, 60 + 2 * OUTAGE_SECS, f"all {total} lines",
                 interval=0.2)
        wait_for(lambda: shipper.metrics()["shouwang_agent_spool_batches"] == 0, 10,
                 "an empty spool")
    finally:
        writer.stop()
        shipper.stop()
        monitor.stop()
    counts = stored(data, "app")
    expected = {f"line-{n:07d}" for n in range(total)}
    assert not expected - set(counts), f"{len(expected - set(counts))} lines lost"
    assert set(counts) == expected
    twice = sum(1 for c in counts.values() if c > 1)
    assert max(counts.values()) <= 2
    assert twice <= BATCH, f"{twice} lines stored twice: more than the batch of the kill"
    print(f"{total} lines; {twice} stored twice after kill -9; outage {OUTAGE_SECS:g} s")


def test_a_full_spool_evicts_the_oldest_batches_and_reports_it(tmp_path, keys):
    lines = 20_000
    log = tmp_path / "app.log"
    with log.open("wb") as handle:
        for number in range(lines):
            # Random text compresses poorly, so the small spool fills quickly.
            handle.write(orjson.dumps({"message": f"line-{number:07d}", "event.dataset": "app",
                                       "noise": os.urandom(24).hex()}) + b"\n")
    port, metrics_port = free_port(), free_port()
    data = tmp_path / "server"
    max_bytes = 256 * 1024
    config = server_config(tmp_path / "server.yaml", data_dir=data, port=port,
                           server_key=keys["server_key"], trusted={AGENT_ID: keys["agent_pub"]})
    agent = agent_config(tmp_path / "agent.yaml", data_dir=tmp_path / "agent",
                         agent_key=keys["agent_key"], servers=[(port, keys["server_pub"])],
                         metrics_port=metrics_port, heartbeat_secs=3600,
                         spool={"max_bytes": max_bytes},
                         sources={"app": {"type": "file_tail", "paths": [str(log)],
                                          "format": "json", "read_from": "beginning"}})
    with AgentProcess(agent, metrics_port) as shipper:  # no server yet
        spooled = 'shouwang_component_sent_events_total{component="agent_spool"}'
        wait_for(lambda: shipper.metrics().get(spooled, 0) >= lines, 30, "the file spooled")
        metrics = shipper.metrics()
        evicted = metrics["shouwang_agent_spool_evicted_events_total"]
        assert evicted > 0
        assert metrics["shouwang_agent_spool_evicted_batches_total"] > 0
        assert metrics["shouwang_agent_spool_bytes"] <= max_bytes
        with server(config, port):
            wait_for(lambda: shipper.metrics()["shouwang_agent_spool_batches"] == 0, 30,
                     "the spool drained")
    numbers = sorted(int(message[5:]) for message in stored(data, "app"))
    assert numbers, "nothing arrived"
    # Oldest first: what is left is the newest lines, all of them, once each.
    assert numbers == list(range(numbers[0], lines))
    assert len(numbers) + evicted >= lines
    reports = [doc for doc in stored_docs(data, "shouwang.pipeline")
               if doc.get("shouwang.component") == "agent_spool"]
    assert reports, "no eviction event reached the server"
    assert reports[-1]["agent.id"] == AGENT_ID
    assert reports[-1]["shouwang.agent.evicted_events"] > 0
    assert "evicted" in reports[-1]["message"]
