"""Detection throughput (issue #5): 1M mixed events (nginx access + sshd) through every built-in
rule on one core, events/s, and the web-attack false alerts on the benign portal corpus.

Events are parsed and merged by @timestamp before the clock starts: the figure is the engine's
alone (`shouwang detect` adds parsing, measured by bench/ingest.py). Peer, same run, same sshd
lines: fail2ban-regex (Debian package fail2ban) with its sshd filter, which matches lines
against failure regexes (it keeps no windows across keys, so it does less work per line).
Each measurement runs in a child process pinned to one CPU.

    python bench/detect.py [--events N]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import corpus  # noqa: E402
from ingest import fail2ban_regex  # noqa: E402  (the same peer run as the ingest bench)

# the last CPU: bench/ingest.py and the other benches pin CPU 0, and may run at the same time
CPU = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
BATCH_EVENTS = 2_000


def child(nginx: str, sshd: str) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})
    from prometheus_client import CollectorRegistry

    from collectors.parsers.catalog import build_parser, default_registry
    from core.events import event_epoch
    from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
    from detectors.engine import Engine
    from detectors.rules import load_rules

    events = []
    for path, fmt in ((nginx, "nginx"), (sshd, "syslog")):
        parser = build_parser(fmt, default_registry())
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                event = parser.parse(line.rstrip("\n"))
                if event is not None:
                    events.append(event)
    events.sort(key=event_epoch)
    # The pre-parsed corpus (a GB of dicts) would otherwise be walked by every full garbage
    # collection, a cost the streaming engine never has (it holds no events beyond its buffer).
    gc.collect()
    gc.freeze()
    registry = CollectorRegistry()
    rules = load_rules(DEFAULT_RULES_DIR, default_rule_types())
    engine = Engine.build(rules, registry=registry)
    findings = []
    started = time.perf_counter()
    for start in range(0, len(events), BATCH_EVENTS):
        findings += engine.process(events[start:start + BATCH_EVENTS])
    findings += engine.flush()
    elapsed = time.perf_counter() - started
    web_requests = sum(1 for e in events if e["event.dataset"] == "nginx.access")
    attack_matches = registry.get_sample_value("shouwang_detector_matched_events_total",
                                               {"rule": "web-attack"}) or 0
    return {"events": len(events), "rules": len(rules), "secs": elapsed,
            "per_sec": len(events) / elapsed,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "findings": dict(Counter(f["rule.id"] for f in findings)),
            "web_requests": web_requests, "web_attack_matches": attack_matches}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    half = args.events // 2
    nginx, sshd = corpus("nginx", half), corpus("sshd", half)
    result = subprocess.run([sys.executable, __file__, "--child", str(nginx), str(sshd)],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr[-3000:]}")
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    peer = fail2ban_regex(sshd, half)
    print(f"\nDetection benchmark: {ours['events']:,} events ({half:,} nginx + {half:,} sshd), "
          f"{ours['rules']} built-in rules, one core")
    print(f"  shouwang engine            {ours['per_sec']:>12,.0f} events/s   "
          f"({ours['secs']:.2f} s, peak RSS {ours['rss_mb']:.0f} MB incl. the parsed events)")
    if peer:
        print(f"  peer: fail2ban-regex sshd  {peer['per_sec']:>12,.0f} lines/s    "
              f"({peer['secs']:.2f} s for the {half:,} sshd lines only)")
    else:
        print("  fail2ban-regex not installed (Debian package fail2ban): no peer figure")
    rate = ours["web_attack_matches"] / max(ours["web_requests"], 1) * 100_000
    print(f"  web-attack matches on the benign portal corpus: {ours['web_attack_matches']:.0f} "
          f"of {ours['web_requests']:,} requests ({rate:.2f} per 100k)")
    print(f"  findings: {json.dumps(ours['findings'], sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
