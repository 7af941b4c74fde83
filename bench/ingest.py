"""Ingest throughput (issue #2): parse, and file_tail -> parse -> SQLite end to end, one core.

Targets: parse >= 100k lines/s (nginx combined, sshd); end to end >= 40k events/s; RSS <= 250 MB.
Peer, same run, same sshd file: fail2ban-regex (Debian package fail2ban) with its sshd filter.
Each measurement runs in a child process pinned to one CPU so the figures (and RSS) are its own.

    python bench/ingest.py [--lines N]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import corpus  # noqa: E402

CPU = 0
TARGETS = {"parse": 100_000, "e2e": 40_000, "rss_mb": 250}


def pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_parse(path: str, fmt: str) -> dict:
    from cli.app import default_registries
    from collectors.parsers.base import ParserOptions

    parser = default_registries().parsers.get(fmt)(ParserOptions())
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    parse = parser.parse
    started = time.perf_counter()
    parsed = 0
    for line in lines:
        if parse(line) is not None:
            parsed += 1
    elapsed = time.perf_counter() - started
    return {"lines": len(lines), "recognized": parsed, "secs": elapsed,
            "per_sec": len(lines) / elapsed, "rss_mb": peak_rss_mb()}


def child_e2e(paths: list[str], formats: list[str]) -> dict:
    from cli.app import default_registries, settings_model
    from cli.monitor import Monitor
    from core.runtime import settle_heap

    registries = default_registries()
    data_dir = Path(tempfile.mkdtemp(prefix="shouwang-bench-"))
    sources = {f"src{i}": {"type": "file_tail", "paths": [path], "format": fmt,
                          "read_from": "beginning"}
               for i, (path, fmt) in enumerate(zip(paths, formats))}
    settings = settings_model(registries).model_validate({
        "node": {"name": "bench", "data_dir": str(data_dir)},
        "store": {"type": "sqlite"},
        "sources": sources,
        # Ingest alone: detection has its own benchmark (bench/detect.py).
        "detection": {"enabled": False},
    })
    expected = sum(sum(1 for _ in open(path, "rb")) for path in paths)

    async def run() -> float:
        monitor = Monitor(settings, registries, out=open(os.devnull, "w"))
        settle_heap()                       # as Monitor.start() does
        await monitor.store.open()
        started = time.perf_counter()
        await monitor.pipeline.start()
        sent = monitor.metrics.sent.labels(monitor.store.name)
        while sent._value.get() < expected:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await monitor.pipeline.stop()
        await monitor.store.close()
        return elapsed

    try:
        elapsed = asyncio.run(run())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"events": expected, "secs": elapsed, "per_sec": expected / elapsed,
            "rss_mb": peak_rss_mb()}


def in_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                            text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def fail2ban_regex(path: Path, lines: int) -> dict | None:
    command = shutil.which("fail2ban-regex")
    if command is None:
        return None
    argv = ["taskset", "-c", str(CPU), command, str(path), "sshd"]
    if shutil.which("taskset") is None:
        argv = argv[3:]
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=1800, check=True)
    elapsed = time.perf_counter() - started
    return {"lines": lines, "secs": elapsed, "per_sec": lines / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        pin()
        kind, *rest = args.child
        if kind == "parse":
            result = child_parse(rest[0], rest[1])
        else:
            half = len(rest) // 2
            result = child_e2e(rest[:half], rest[half:])
        print(json.dumps(result))
        return 0

    nginx = corpus("nginx", args.lines)
    sshd = corpus("sshd", args.lines)
    rows = []
    failures = []

    def row(name, result, target=None, unit="lines/s"):
        ok = "" if target is None else ("ok" if result["per_sec"] >= target else "BELOW TARGET")
        if ok == "BELOW TARGET":
            failures.append(name)
        rows.append((name, f"{result['per_sec']:,.0f} {unit}", f"{result.get('rss_mb', 0):.0f} MB"
                     if "rss_mb" in result else "-", f">= {target:,}" if target else "peer", ok))

    row("parse nginx combined (1 core)", in_child("parse", str(nginx), "nginx"), TARGETS["parse"])
    row("parse sshd via syslog (1 core)", in_child("parse", str(sshd), "syslog"), TARGETS["parse"])
    e2e = in_child("e2e", str(nginx), str(sshd), "nginx", "syslog")
    row("file_tail -> parse -> SQLite (1 core)", e2e, TARGETS["e2e"], "events/s")
    peer = fail2ban_regex(sshd, args.lines)
    if peer:
        row("peer: fail2ban-regex sshd (1 core)", peer)
    print(f"\nIngest benchmark, {args.lines:,} nginx + {args.lines:,} sshd lines")
    print(f"{'measurement':42} {'throughput':>18} {'peak RSS':>9} {'target':>12}")
    for name, rate, rss, target, ok in rows:
        print(f"{name:42} {rate:>18} {rss:>9} {target:>12} {ok}")
    if e2e["rss_mb"] > TARGETS["rss_mb"]:
        failures.append(f"RSS {e2e['rss_mb']:.0f} MB > {TARGETS['rss_mb']} MB")
    if peer is None:
        print("fail2ban-regex not installed (Debian package fail2ban): no peer figure")
    if failures:
        print("below target: " + "; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
