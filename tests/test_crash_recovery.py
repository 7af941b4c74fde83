"""kill -9 of `shouwang run` while it ingests a 200k-line file, then a restart: every line is
stored exactly once, or twice for at most one batch."""
import collections
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from tests.support.monitor import SHOUWANG, MonitorProcess, free_port, write_config

pytestmark = pytest.mark.slow

LINES = 200_000
BATCH = 1000


def stored_messages(data_dir: Path) -> collections.Counter:
    counts = collections.Counter()
    for db in sorted((data_dir).rglob("events-*.db")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            for (message,) in connection.execute("SELECT message FROM events"):
                counts[message] += 1
    return counts


def stored_count(data_dir: Path) -> int:
    total = 0
    for db in sorted((data_dir).rglob("events-*.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
                total += connection.execute("SELECT count(*) FROM events").fetchone()[0]
        except sqlite3.Error:
            pass
    return total


def test_kill_9_during_ingestion_loses_nothing(tmp_path):
    log = tmp_path / "big.log"
    with log.open("wb") as handle:
        for number in range(LINES):
            handle.write(orjson.dumps({"message": f"line-{number:06d}", "event.dataset": "app"}))
            handle.write(b"\n")
    data_dir = tmp_path / "var"
    port = free_port()
    config = write_config(tmp_path / "shouwang.yaml", data_dir=data_dir, port=port,
                          sources={"big": {"type": "file_tail", "paths": [str(log)],
                                           "format": "json", "read_from": "beginning"}},
                          pipeline={"batch_max_events": BATCH, "batch_max_wait_secs": 0.05})
    argv = [SHOUWANG, "run", "--config", str(config)]

    first = MonitorProcess(argv, port).start()
    deadline = time.monotonic() + 60
    while stored_count(data_dir) < LINES // 10:
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.kill9()
    after_kill = stored_count(data_dir)
    assert after_kill < LINES, "ingestion finished before the kill; the test proves nothing"

    with MonitorProcess(argv, port):
        deadline = time.monotonic() + 120
        while stored_count(data_dir) < LINES:
            assert time.monotonic() < deadline, "restart did not finish the file"
            time.sleep(0.2)
        time.sleep(0.5)

    counts = stored_messages(data_dir)
    expected = {f"line-{number:06d}" for number in range(LINES)}
    missing = expected - set(counts)
    twice = [message for message, count in counts.items() if count > 1]
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:3]}"
    assert all(count <= 2 for count in counts.values())
    assert len(twice) <= BATCH, f"{len(twice)} lines stored twice (more than one batch)"
