"""Sigma evaluation throughput (issue #5): 1M mixed events (nginx access + sshd auth lines of
bench/corpus.py, half each, merged by @timestamp) through every active Sigma rule of the
shared SigmaHQ sample set on one core, events/s; then the same with the built-in rules added
(the whole engine). Parsing happens before the clock starts.

    python bench/sigma.py [--events N] [--rules DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections import Counter
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this file's own folder must not come first on the path: its name would hide pySigma's
# `sigma` package; bench/corpus.py is loaded by path instead
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_corpus", HERE / "corpus.py")
_corpus_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_corpus_module)
corpus = _corpus_module.corpus

CPU = 0
BATCH_EVENTS = 2_000
CORPUS_LINES = 1_000_000


def parsed_events(total: int) -> list[dict]:
    from collectors.parsers.catalog import build_parser, default_registry
    from core.events import event_epoch

    events = []
    for name, fmt in (("nginx", "nginx"), ("sshd", "syslog")):
        parser = build_parser(fmt, default_registry())
        with corpus(name, CORPUS_LINES).open(encoding="utf-8") as handle:
            for line in islice(handle, total // 2):
                event = parser.parse(line.rstrip("\n"))
                if event is not None:
                    events.append(event)
    events.sort(key=event_epoch)
    return events


def run(events: list[dict], rules: list) -> dict:
    from prometheus_client import CollectorRegistry

    from detectors.engine import Engine

    engine = Engine.build(rules, registry=CollectorRegistry())
    findings = []
    started = time.perf_counter()
    for start in range(0, len(events), BATCH_EVENTS):
        findings += engine.process(events[start:start + BATCH_EVENTS])
    findings += engine.flush()
    elapsed = time.perf_counter() - started
    return {"rules": len(rules), "secs": elapsed, "per_sec": len(events) / elapsed,
            "findings": Counter(f["rule.name"] for f in findings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rules", default=str(ROOT.parent / "shared" / "data" / "sigma-rules"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})
    from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
    from detectors.rules import load_rules
    from detectors.sigma.loader import load_sigma_rules

    started = time.perf_counter()
    sigma = load_sigma_rules([args.rules])
    load_secs = time.perf_counter() - started
    print(f"Sigma rules: {sigma.total} found, {len(sigma.active)} active, "
          f"{len(sigma.inactive)} inactive (no source), {len(sigma.rejected)} rejected; "
          f"loaded in {load_secs:.2f} s")
    events = parsed_events(args.events)
    builtin = load_rules(DEFAULT_RULES_DIR, default_rule_types())
    for label, rules in (("sigma only", sigma.active), ("built-in only", builtin),
                         ("built-in + sigma", builtin + sigma.active)):
        result = run(events, rules)
        print(f"{label:18s} {result['rules']:4d} rules  {len(events):,} events  "
              f"{result['secs']:6.2f} s  {result['per_sec']:>9,.0f} events/s  "
              f"findings: {sum(result['findings'].values())}")
        for name, number in result["findings"].most_common(5):
            print(f"{'':22s}{number:6d}  {name}")


if __name__ == "__main__":
    main()
