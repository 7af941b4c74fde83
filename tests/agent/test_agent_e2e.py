"""A real `shouwang agent` process shipping to a real `shouwang run` process: every line of a
file arrives once, with the agent's authenticated id, heartbeats and the last-seen metric."""
import subprocess
import time

from tests.agent.support import (AGENT_ID, SHOUWANG, AgentProcess, agent_config, free_port,
                                 server, server_config, server_metrics, stored, stored_docs,
                                 wait_for, write_lines)

LINES = 20_000


def test_agent_ships_every_line_of_a_file_to_the_server(tmp_path, keys):
    log = tmp_path / "app.log"
    write_lines(log, 0, LINES)
    port, metrics_port = free_port(), free_port()
    server_data = tmp_path / "server"
    config = server_config(tmp_path / "server.yaml", data_dir=server_data, port=port,
                           server_key=keys["server_key"], trusted={AGENT_ID: keys["agent_pub"]})
    agent = agent_config(tmp_path / "agent.yaml", data_dir=tmp_path / "agent",
                         agent_key=keys["agent_key"], servers=[(port, keys["server_pub"])],
                         metrics_port=metrics_port, heartbeat_secs=0.5,
                         sources={"app": {"type": "file_tail", "paths": [str(log)],
                                          "format": "json", "read_from": "beginning"}})
    with server(config, port) as monitor, AgentProcess(agent, metrics_port) as shipper:
        started = time.monotonic()
        wait_for(lambda: sum(stored(server_data, "app").values()) >= LINES, 30,
                 "all lines on the server")
        elapsed = time.monotonic() - started
        wait_for(lambda: stored_docs(server_data, "shouwang.agent"), 10, "a heartbeat")
        counts = stored(server_data, "app")
        assert set(counts) == {f"line-{n:07d}" for n in range(LINES)}
        assert max(counts.values()) == 1
        app = stored_docs(server_data, "app")
        assert {doc["agent.id"] for doc in app} == {AGENT_ID}
        heartbeat = stored_docs(server_data, "shouwang.agent")[0]
        assert heartbeat["agent.id"] == AGENT_ID
        assert heartbeat["event.action"] == "heartbeat"
        assert {"shouwang.agent.spool_bytes", "shouwang.agent.events_shipped",
                "agent.version"} <= set(heartbeat)
        seen = server_metrics(monitor)[
            f'shouwang_agent_last_seen_timestamp_seconds{{agent="{AGENT_ID}"}}']
        assert time.time() - 30 < seen <= time.time()
        shipped = shipper.metrics()
        assert shipped[f'shouwang_agent_shipped_events_total{{server="127.0.0.1:{port}"}}'] >= LINES
        print(f"{LINES} lines file -> agent -> server in {elapsed:.2f} s")


def test_agent_fails_over_to_the_next_server_in_order(tmp_path, keys):
    log = tmp_path / "app.log"
    write_lines(log, 0, 5000)
    dead_port, port, metrics_port = free_port(), free_port(), free_port()
    server_data = tmp_path / "server"
    config = server_config(tmp_path / "server.yaml", data_dir=server_data, port=port,
                           server_key=keys["server_key"], trusted={AGENT_ID: keys["agent_pub"]})
    agent = agent_config(tmp_path / "agent.yaml", data_dir=tmp_path / "agent",
                         agent_key=keys["agent_key"],
                         servers=[(dead_port, keys["server_pub"]), (port, keys["server_pub"])],
                         metrics_port=metrics_port, heartbeat_secs=3600,
                         sources={"app": {"type": "file_tail", "paths": [str(log)],
                                          "format": "json", "read_from": "beginning"}})
    with server(config, port), AgentProcess(agent, metrics_port) as shipper:
        wait_for(lambda: sum(stored(server_data, "app").values()) >= 5000, 20,
                 "lines on the second server")
        metrics = shipper.metrics()
    assert metrics[f'shouwang_agent_server_up{{server="127.0.0.1:{dead_port}"}}'] == 0
    assert metrics[f'shouwang_agent_server_up{{server="127.0.0.1:{port}"}}'] == 1
    assert metrics[f'shouwang_agent_send_failures_total{{reason="connect",'
                   f'server="127.0.0.1:{dead_port}"}}'] >= 1
    assert max(stored(server_data, "app").values()) == 1


def test_agent_check_names_what_is_wrong(tmp_path, keys):
    def check(**changes) -> subprocess.CompletedProcess:
        settings = dict(data_dir=tmp_path / "agent", agent_key=keys["agent_key"],
                        servers=[(free_port(), keys["server_pub"])], metrics_port=free_port(),
                        sources={"app": {"type": "file_tail", "paths": ["/nonexistent.log"]}})
        settings.update(changes)
        config = agent_config(tmp_path / "agent.yaml", **settings)
        return subprocess.run([SHOUWANG, "agent", "--config", str(config), "--check"],
                              capture_output=True, text=True, timeout=60)

    good = check()
    assert good.returncode == 0, good.stderr
    assert f"agent {AGENT_ID}: configuration OK" in good.stdout
    missing = check(agent_key=tmp_path / "missing.key")
    assert missing.returncode == 2
    assert "missing.key" in missing.stderr
    typo = check(sources={"app": {"type": "file_tial", "paths": ["/x.log"]}})
    assert typo.returncode == 2
    assert "did you mean 'file_tail'" in typo.stderr and "agent.yaml:" in typo.stderr


def test_agent_returns_to_the_first_server_after_failback_secs(tmp_path, keys):
    log = tmp_path / "app.log"
    write_lines(log, 0, 1000)
    first_port, second_port, metrics_port = free_port(), free_port(), free_port()
    first_data, second_data = tmp_path / "first", tmp_path / "second"
    configs = [server_config(tmp_path / f"{name}.yaml", data_dir=data, port=port,
                             server_key=keys["server_key"], trusted={AGENT_ID: keys["agent_pub"]})
               for name, data, port in (("first", first_data, first_port),
                                        ("second", second_data, second_port))]
    agent = agent_config(tmp_path / "agent.yaml", data_dir=tmp_path / "agent",
                         agent_key=keys["agent_key"], metrics_port=metrics_port,
                         servers=[(first_port, keys["server_pub"]),
                                  (second_port, keys["server_pub"])],
                         heartbeat_secs=3600, failback_secs=1,
                         sources={"app": {"type": "file_tail", "paths": [str(log)],
                                          "format": "json", "read_from": "beginning"}})
    with server(configs[1], second_port), AgentProcess(agent, metrics_port):
        wait_for(lambda: sum(stored(second_data, "app").values()) >= 1000, 20,
                 "lines on the second server while the first is down")
        with server(configs[0], first_port):
            time.sleep(1.2)
            write_lines(log, 1000, 1000)
            wait_for(lambda: sum(stored(first_data, "app").values())
                     + sum(stored(second_data, "app").values()) >= 2000, 20, "the new lines")
            assert stored(first_data, "app"), "the agent did not go back to the first server"
    both = stored(first_data, "app") + stored(second_data, "app")
    assert set(both) == {f"line-{n:07d}" for n in range(2000)}
