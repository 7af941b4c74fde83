"""Window state memory (issue #5): every built-in rule fed 1M sshd failures and web requests
from 1M distinct source addresses, events made on the fly so that only the engine's state
counts. Prints peak RSS before and after, and the state's share; target <= 500 MB.

    python bench/detect_memory.py [--addresses N]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry  # noqa: E402

from core.events import format_ts  # noqa: E402
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types  # noqa: E402
from detectors.engine import Engine  # noqa: E402
from detectors.rules import load_rules  # noqa: E402

BATCH = 2000


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def event(number: int, start: float) -> dict:
    address = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
    stamp = format_ts(start + number * 0.001)
    if number % 2:
        return {"@timestamp": stamp, "event.id": f"s{number}", "event.kind": "event",
                "event.dataset": "system.auth", "event.category": ["authentication"],
                "event.outcome": "failure", "event.action": "ssh_login", "process.name": "sshd",
                "source.address": address, "source.ip": address, "user.name": "root",
                "message": f"Failed password for root from {address} port 4242 ssh2"}
    return {"@timestamp": stamp, "event.id": f"w{number}", "event.kind": "event",
            "event.dataset": "nginx.access", "event.category": ["web"],
            "source.address": address, "source.ip": address, "http.request.method": "GET",
            "url.original": f"/patent/CN{number}A", "url.path": f"/patent/CN{number}A",
            "http.response.status_code": 404 if number % 10 == 0 else 200,
            "user_agent.original": "Mozilla/5.0"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=1_000_000)
    args = parser.parse_args()
    rules = load_rules(DEFAULT_RULES_DIR, default_rule_types())
    engine = Engine.build(rules, registry=CollectorRegistry(), hold_secs=0)
    before = rss_mb()
    start, began = 1_795_000_000.0, time.perf_counter()
    for first in range(0, args.addresses, BATCH):
        engine.process([event(n, start) for n in range(first, min(first + BATCH, args.addresses))])
    elapsed = time.perf_counter() - began
    after = rss_mb()
    keys = sum(len(d.state) for d in engine.detectors if hasattr(d, "state"))
    print(f"window state, {len(rules)} rules, {args.addresses:,} distinct source addresses: "
          f"RSS {before:.0f} -> {after:.0f} MB (state {after - before:.0f} MB, target <= 500), "
          f"{keys:,} keys held (each rule keeps at most max_keys), {args.addresses / elapsed:,.0f} "
          f"events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
