"""`shouwang detect [--rules DIR] [--sigma DIR]... [--sigma-only] [--rule ID]... PATH...`:
offline detection over log files; findings (ECS alert events) as NDJSON on stdout, a summary
on stderr.

Sigma rules (`--sigma DIR`, repeatable) are loaded exactly as the monitor loads
`detection.sigma_dirs` (detectors.sigma.loader): active ones run beside the rules of
`--rules`, or alone with `--sigma-only`; the summary counts active, inactive (no source for
their logsource) and rejected rules, and `--rule` selects Sigma rules by their id too.

Files are parsed like `shouwang parse` (auto format by default, `.gz` and `-` accepted) and
merged by @timestamp, so a day of sshd lines and a day of nginx lines are examined in one
event-time order with bounded memory (each file is assumed roughly in time order; disorder
within `--lateness-secs` is reordered exactly, older stragglers are counted and skipped).
Packet captures (pcap, pcapng; found by their magic number) become flow, DNS, HTTP and TLS
events (collectors.packets.pcap_events) and are merged with the logs like any other file.
Exit codes: 0 no findings, 1 findings, 2 error (missing file, bad rule file, unknown format).
"""
from __future__ import annotations

import heapq
import sys
from collections import Counter
from pathlib import Path

import orjson

from cli.parse_cmd import _is_capture, _lines
from collectors.parsers.base import LineNormalizer, ParserOptions, is_unparsed, load_timezone
from collectors.parsers.catalog import PLANNED_FORMATS, build_parser, default_registry
from core.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, InputError
from core.events import event_epoch, format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules

BATCH_EVENTS = 2_000
DEFAULT_LATENESS_SECS = 300.0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "detect", help="run detection rules over log files, print findings as NDJSON",
        description="Parse log files (or - for stdin), run the detection rules over them in "
                    "event-time order and print findings as NDJSON. Exit 1 when anything was "
                    "found, 0 when nothing was, 2 on error.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log file, .gz file, or -")
    add_rule_arguments(parser)
    parser.add_argument("--sigma", action="append", default=[], metavar="DIR",
                        help="also run the Sigma rules (*.yml, *.yaml) under DIR, as "
                             "detection.sigma_dirs does in the monitor (repeatable)")
    parser.add_argument("--sigma-only", action="store_true",
                        help="run only the --sigma rules, not the rules of --rules")
    parser.add_argument("--rule", action="append", default=[], metavar="ID",
                        help="run only this rule (repeatable; a Sigma rule by its id)")
    parser.add_argument("--format", default="auto", help="input format (default auto)")
    parser.add_argument("--log-format", default=None,
                        help="nginx log_format string for nginx/apache access logs")
    parser.add_argument("--timezone", default=None,
                        help="time zone of timestamps without one (default: local)")
    parser.add_argument("--lateness-secs", type=float, default=DEFAULT_LATENESS_SECS,
                        help=f"how far out of time order a line may be (default "
                             f"{DEFAULT_LATENESS_SECS:g})")
    parser.set_defaults(handler=run)


def add_rule_arguments(parser) -> None:
    parser.add_argument("--rules", default=str(DEFAULT_RULES_DIR), metavar="DIR",
                        help=f"rule directory (default {DEFAULT_RULES_DIR})")


def parser_factory(args):
    """A function giving a fresh parser per input stream, per the command's options."""
    if args.format in PLANNED_FORMATS:
        raise InputError(f"format {args.format!r} is not yet supported")
    registry = default_registry()
    if args.format != "auto" and args.format not in registry:
        raise InputError(registry.unknown_message(args.format))
    options = ParserOptions(timezone=load_timezone(args.timezone),
                            log_format=getattr(args, "log_format", None))
    return lambda: build_parser(args.format, registry, options)


def _events(path: str, new_parser, totals: Counter):
    normalizer = LineNormalizer(new_parser())
    previous = None
    waiting: list[dict] = []  # time-less lines before the first timed one
    for line in _lines(path, totals):
        totals["lines"] += 1
        event = normalizer.event(line)
        if is_unparsed(event):
            continue  # no rule reads raw lines
        # A line without a time of its own (a journal excerpt) carries the time we read it;
        # merged by that it would jump ahead of the whole file, so it takes its neighbour's.
        if event.get("@timestamp") == event.get("event.created"):
            if previous is None:
                waiting.append(event)
                continue
            event["@timestamp"] = format_ts(previous)
            yield previous, event
            continue
        previous = event_epoch(event)
        for early in waiting:
            early["@timestamp"] = event["@timestamp"]
            yield previous, early
        waiting.clear()
        yield previous, event
    yield from ((float("inf"), event) for event in waiting)
    totals["unparsed"] += normalizer.unparsed


def _capture_events(path: str, totals: Counter):
    """(time, event) of a capture file. Flows are exported when they end but stamped with
    their start, so they come out of time order by up to the flow idle timeout (60 s), well
    inside the default --lateness-secs."""
    from collectors.packets import pcap_events

    for event in pcap_events(path):
        totals["lines"] += 1
        if event.get("event.kind") == "pipeline_error":
            totals["unparsed"] += 1
            continue
        yield event_epoch(event), event


def _selected_rules(args) -> list:
    """The rules of --rules (unless --sigma-only) and the active rules of --sigma; the Sigma
    verdicts are counted on stderr."""
    sigma_dirs = args.sigma
    if args.sigma_only and not sigma_dirs:
        raise InputError("--sigma-only needs at least one --sigma DIR")
    loaded = [] if args.sigma_only else load_rules(args.rules, default_rule_types())
    if sigma_dirs:
        from detectors.sigma.loader import load_sigma_rules

        missing = [path for path in sigma_dirs if not Path(path).exists()]
        if missing:
            raise InputError("no such Sigma rule directory: " + ", ".join(missing))
        sigma = load_sigma_rules(sigma_dirs)
        print(f"shouwang detect: {sigma.summary()}", file=sys.stderr)
        loaded = loaded + sigma.active
    return loaded


def run(args) -> int:
    missing = [p for p in args.paths if p != "-" and not Path(p).is_file()]
    if missing:
        raise InputError("no such file: " + ", ".join(missing))
    new_parser = parser_factory(args)
    loaded = _selected_rules(args)
    if args.rule:
        known = {item.rule.id for item in loaded}
        unknown = [rule_id for rule_id in args.rule if rule_id not in known]
        if unknown:
            raise InputError(f"unknown rule {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        loaded = [item for item in loaded if item.rule.id in args.rule]
    engine = Engine.build(loaded, allowed_lateness_secs=args.lateness_secs)
    totals: Counter = Counter()
    by_rule: Counter = Counter()
    out = sys.stdout.buffer

    def emit(findings: list[dict]) -> None:
        for finding in findings:
            by_rule[finding["rule.id"]] += 1
            out.write(orjson.dumps(finding))
            out.write(b"\n")

    # heapq.merge keeps one pending event per file: memory does not grow with file size
    streams = [_capture_events(path, totals) if _is_capture(path)
               else _events(path, new_parser, totals) for path in args.paths]
    batch: list[dict] = []
    for _, event in heapq.merge(*streams, key=lambda item: item[0]):
        batch.append(event)
        if len(batch) >= BATCH_EVENTS:
            emit(engine.process(batch))
            batch = []
    emit(engine.process(batch))
    emit(engine.flush())
    out.flush()
    late = int(engine.metrics.late._value.get())
    found = sum(by_rule.values())
    summary = (f"shouwang detect: {totals['lines']} lines, {totals['unparsed']} unparsed, "
               f"{len(loaded)} rules, {found} findings")
    if by_rule:
        summary += " (" + ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) + ")"
    if late:
        summary += f"; {late} events older than --lateness-secs were skipped"
    if totals["errors"]:
        summary += f"; {totals['errors']} read errors"
    print(summary, file=sys.stderr)
    if totals["errors"]:
        return EXIT_ERROR
    return EXIT_FINDINGS if found else EXIT_OK
