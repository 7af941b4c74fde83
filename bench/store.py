"""Write throughput of the sqlite store with a realistic nginx/sshd event mix.

    .venv/bin/python bench/store.py [--events 200000] [--batch 2000]

Prints events/s for SqliteStore.write() alone and through the SpoolingStore wrapper, and, as a
peer from the same run, a bare sqlite3 executemany of the same rows into a table with no
indexes and no FTS (the ceiling for SQLite from Python on this machine).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from core.events import format_ts, new_event  # noqa: E402
from storage.spool import SpoolingStore, SpoolMetrics  # noqa: E402
from storage.sqlite import SqliteStore  # noqa: E402

PATHS = ["/", "/login", "/api/v1/exams", "/static/app.js", "/patent/search?q=battery",
         "/wp-login.php", "/trademark/view/12345"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0", "curl/8.5.0",
          "python-requests/2.32", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"]


def make_events(count: int, start: float) -> list[dict]:
    rng = random.Random(7)
    events = []
    for i in range(count):
        ts = format_ts(start + i * 0.0005)
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if i % 4:
            path, status = rng.choice(PATHS), rng.choice((200, 200, 200, 304, 404, 500))
            line = (f'{ip} - - [25/Nov/2026:14:25:43 +0800] "GET {path} HTTP/1.1" {status} '
                    f'{rng.randrange(100, 90000)} "-" "{rng.choice(AGENTS)}"')
            events.append(new_event(
                "nginx.access", message=line, original=line, timestamp=ts,
                source__ip=ip, host__name="web-01", http__request__method="GET",
                http__response__status_code=status, http__response__body__bytes=len(line),
                url__original=path, url__path=path.split("?")[0],
                user_agent__original=rng.choice(AGENTS), event__outcome="success"
                if status < 400 else "failure", log__file__path="/var/log/nginx/access.log"))
        else:
            user = rng.choice(("root", "admin", "alice", "oracle"))
            line = (f"Nov 25 14:25:43 bastion sshd[{rng.randrange(1000, 65000)}]: Failed "
                    f"password for {user} from {ip} port {rng.randrange(1024, 65535)} ssh2")
            events.append(new_event(
                "sshd", message=line, original=line, timestamp=ts, source__ip=ip,
                source__port=rng.randrange(1024, 65535), host__name="bastion",
                user__name=user, event__action="ssh_login", event__outcome="failure",
                event__category=["authentication"], process__name="sshd",
                process__pid=rng.randrange(1000, 65000), log__file__path="/var/log/auth.log"))
    return events


async def measure(store, events: list[dict], batch: int) -> float:
    await store.open()
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        await store.write(events[offset:offset + batch])
    elapsed = time.perf_counter() - started
    await store.close()
    return len(events) / elapsed


def bare_sqlite(directory: Path, events: list[dict], batch: int) -> float:
    conn = sqlite3.connect(directory / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (ts TEXT, doc BLOB)")
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        rows = [(e["@timestamp"], orjson.dumps(e)) for e in events[offset:offset + batch]]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(events) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args()
    events = make_events(args.events, time.time() - 3600)
    size = sum(len(orjson.dumps(e)) for e in events) / len(events)
    print(f"{args.events} events, {len(events[0])}-{len(events[1])} fields, "
          f"{size:.0f} bytes each on average, batches of {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        direct = asyncio.run(measure(SqliteStore("bench", tmp_path / "a"), events, args.batch))
        print(f"  shouwang sqlite store       {direct:>10,.0f} events/s")
        spooled = asyncio.run(measure(SpoolingStore(
            SqliteStore("bench", tmp_path / "b"), tmp_path / "spool", 1 << 30,
            SpoolMetrics(CollectorRegistry())), events, args.batch))
        print(f"  ... behind the spool         {spooled:>10,.0f} events/s")
        bare = bare_sqlite(tmp_path, events, args.batch)
        print(f"  peer: bare sqlite3 (no index, no FTS) {bare:>10,.0f} events/s")


if __name__ == "__main__":
    main()
