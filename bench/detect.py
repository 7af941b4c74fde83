"""Detection throughput (issue #5): 1M mixed events (nginx access, sshd auth lines, network
flows: 40/40/20%) on one core, events/s, through every built-in rule; through the built-in rules
plus every loadable Sigma rule of the shared SigmaHQ sample set (target >= 50k events/s); and
through the Sigma rules alone. Also the web-attack false alerts on the benign portal corpus.

Events are parsed (flows made) and merged by @timestamp before the clock starts: the figures are
the engine's alone (`shouwang detect` adds parsing, measured by bench/ingest.py). Peer, same
run, same sshd lines: fail2ban-regex (Debian package fail2ban) with its sshd filter, which
matches lines against failure regexes (it keeps no windows across keys, so it does less work
per line). Each measurement runs in a child process pinned to one CPU.

    python bench/detect.py [--events N] [--sigma-rules DIR]
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

from corpus import corpus, flow_events  # noqa: E402
from ingest import fail2ban_regex  # noqa: E402  (the same peer run as the ingest bench)

# the last CPU: bench/ingest.py and the other benches pin CPU 0, and may run at the same time
CPU = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
BATCH_EVENTS = 2_000
TARGET_EVENTS_PER_SEC = 50_000
SIGMA_RULES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sigma-rules"


def mixed_events(nginx: str, sshd: str, flows: int) -> list[dict]:
    from collectors.parsers.catalog import build_parser, default_registry
    from core.events import event_epoch

    events = list(flow_events(flows))
    for path, fmt in ((nginx, "nginx"), (sshd, "syslog")):
        parser = build_parser(fmt, default_registry())
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                event = parser.parse(line.rstrip("\n"))
                if event is not None:
                    events.append(event)
    events.sort(key=event_epoch)
    return events


def measure(events: list[dict], rules: list) -> dict:
    from prometheus_client import CollectorRegistry

    from detectors.engine import Engine

    gc.collect()  # the previous run's engine, not this one's cost
    registry = CollectorRegistry()
    engine = Engine.build(rules, registry=registry)
    findings = []
    started = time.perf_counter()
    for start in range(0, len(events), BATCH_EVENTS):
        findings += engine.process(events[start:start + BATCH_EVENTS])
    findings += engine.flush()
    elapsed = time.perf_counter() - started
    matches = {sample.labels["rule"]: int(sample.value) for metric in registry.collect()
               for sample in metric.samples
               if sample.name == "shouwang_detector_matched_events_total" and sample.value}
    return {"rules": len(rules), "secs": elapsed, "per_sec": len(events) / elapsed,
            "findings": dict(Counter(f["rule.id"] for f in findings)), "matches": matches,
            "web_attack_matches": matches.get("web-attack", 0)}


def child(nginx: str, sshd: str, flows: int, sigma_dir: str) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})
    from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
    from detectors.rules import load_rules
    from detectors.sigma.loader import load_sigma_rules

    from core.runtime import settle_heap

    events = mixed_events(nginx, sshd, flows)
    # The garbage collector as the monitor sets it (Monitor.start); freezing also keeps the
    # pre-parsed corpus (a GB of dicts) out of full collections, a cost the streaming engine
    # never has (it holds no events beyond its buffer).
    settle_heap()
    builtin = load_rules(DEFAULT_RULES_DIR, default_rule_types())
    sigma = load_sigma_rules([sigma_dir]) if Path(sigma_dir).is_dir() else None
    runs = {"built-in": measure(events, builtin)}
    if sigma is not None:
        runs["built-in + Sigma"] = measure(events, builtin + sigma.active)
        runs["Sigma alone"] = measure(events, sigma.active)
    return {"events": len(events), "runs": runs,
            "sigma": None if sigma is None else
            {"found": sigma.total, "active": len(sigma.active),
             "inactive": len(sigma.inactive), "rejected": len(sigma.rejected)},
            "web_requests": sum(1 for e in events if e["event.dataset"] == "nginx.access"),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sigma-rules", default=str(SIGMA_RULES))
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        nginx, sshd, flows, sigma_dir = args.child
        print(json.dumps(child(nginx, sshd, int(flows), sigma_dir)))
        return 0
    logs = args.events * 2 // 5
    flows = args.events - 2 * logs
    nginx, sshd = corpus("nginx", logs), corpus("sshd", logs)
    result = subprocess.run([sys.executable, __file__, "--child", str(nginx), str(sshd),
                             str(flows), args.sigma_rules],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr[-3000:]}")
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    peer = fail2ban_regex(sshd, logs)
    print(f"\nDetection benchmark: {ours['events']:,} events ({logs:,} nginx + {logs:,} sshd + "
          f"{flows:,} flows), one core (peak RSS {ours['rss_mb']:.0f} MB incl. the parsed "
          "events)")
    if ours["sigma"]:
        sigma = ours["sigma"]
        print(f"  Sigma rules of {args.sigma_rules}: {sigma['found']} found, {sigma['active']} "
              f"active, {sigma['inactive']} inactive (no source), {sigma['rejected']} rejected")
    else:
        print(f"  no Sigma rules at {args.sigma_rules}: built-in rules only")
    for label, run in ours["runs"].items():
        verdict = ""
        if label == "built-in + Sigma":
            verdict = "ok" if run["per_sec"] >= TARGET_EVENTS_PER_SEC else "BELOW TARGET"
            verdict = f"  target >= {TARGET_EVENTS_PER_SEC:,}: {verdict}"
        print(f"  {label:18s} {run['rules']:4d} rules {run['per_sec']:>10,.0f} events/s "
              f"({run['secs']:.2f} s){verdict}")
    if peer:
        print(f"  peer: fail2ban-regex sshd     {peer['per_sec']:>10,.0f} lines/s  "
              f"({peer['secs']:.2f} s for the {logs:,} sshd lines only)")
    else:
        print("  fail2ban-regex not installed (Debian package fail2ban): no peer figure")
    matches = ours["runs"]["built-in"]["web_attack_matches"]
    rate = matches / max(ours["web_requests"], 1) * 100_000
    print(f"  web-attack matches on the benign portal corpus: {matches:.0f} of "
          f"{ours['web_requests']:,} requests ({rate:.2f} per 100k)")
    for label, run in ours["runs"].items():
        print(f"  findings, {label}: {json.dumps(run['findings'], sort_keys=True)}")
    # what a speed change must leave as it was: the events each rule selected
    for label, run in ours["runs"].items():
        print(f"  matches, {label}: {json.dumps(run['matches'], sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
