"""`shouwang parse [--format F] [--log-format FMT] [--timezone TZ] PATH...`: normalized events
as NDJSON on stdout.

`-` reads stdin; `.gz` files are decompressed transparently (a truncated .gz gives what could be
read and an error on stderr). Every line becomes one event: lines no parser reads are printed
as raw events (tags: [unparsed]) and counted in the summary on stderr. Invalid UTF-8 is
replaced (and counted). Exit codes: 0 done (even with unparsed lines: they are data, not
errors), 2 for a missing file or an unknown format. Packet captures (pcap, pcapng; found by
their magic number under `auto`) become flow, DNS, HTTP and TLS events.
"""
from __future__ import annotations

import sys
from pathlib import Path

import orjson

from collectors.gzread import GzipDamaged, iter_gunzip
from collectors.parsers.base import LineNormalizer, ParserOptions, load_timezone
from collectors.parsers.catalog import build_parser, default_registry
from core.errors import EXIT_ERROR, EXIT_OK, InputError

READ_CHUNK_BYTES = 1 << 20


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "parse", help="normalize log files into NDJSON events",
        description="Read log files (or - for stdin; .gz transparently) and print one "
                    "normalized ECS event per line as NDJSON.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log file, .gz file, or -")
    parser.add_argument("--format", default="auto",
                        help="auto (default), nginx, apache, nginx_error, apache_error, sshd, "
                             "syslog, json, pcap")
    parser.add_argument("--log-format", default=None,
                        help="nginx log_format string for nginx/apache access logs")
    parser.add_argument("--timezone", default=None,
                        help="time zone of timestamps without one (default: local)")
    parser.set_defaults(handler=run)


PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
               b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")


def _is_capture(path: str) -> bool:
    if path == "-":
        return False
    with open(path, "rb") as stream:
        return stream.read(4) in PCAP_MAGICS


def run(args) -> int:
    registry = default_registry()
    if args.format not in ("auto", "pcap") and args.format not in registry:
        raise InputError(registry.unknown_message(args.format))
    missing = [p for p in args.paths if p != "-" and not Path(p).is_file()]
    if missing:
        raise InputError("no such file: " + ", ".join(missing))
    if args.format == "pcap" or (args.format == "auto" and all(map(_is_capture, args.paths))):
        return _run_pcap(args.paths)
    options = ParserOptions(timezone=load_timezone(args.timezone), log_format=args.log_format)
    out = sys.stdout.buffer
    totals = {"lines": 0, "unparsed": 0, "invalid_utf8": 0, "errors": 0}
    for path in args.paths:
        normalizer = LineNormalizer(build_parser(args.format, registry, options))
        for line in _lines(path, totals):
            totals["lines"] += 1
            out.write(orjson.dumps(normalizer.event(line)))
            out.write(b"\n")
        totals["unparsed"] += normalizer.unparsed
    out.flush()
    summary = (f"shouwang parse: {totals['lines']} lines, "
               f"{totals['lines'] - totals['unparsed']} parsed, {totals['unparsed']} unparsed")
    if totals["invalid_utf8"]:
        summary += f", {totals['invalid_utf8']} with invalid UTF-8 (replaced)"
    if totals["errors"]:
        summary += f", {totals['errors']} read errors"
    print(summary, file=sys.stderr)
    return EXIT_ERROR if totals["errors"] else EXIT_OK


def _run_pcap(paths: list[str]) -> int:
    from collectors.packets import pcap_events

    if "-" in paths:
        raise InputError("pcap input must be a file, not stdin")
    out = sys.stdout.buffer
    counts = {"events": 0, "errors": 0}
    for event in pcap_events(paths):
        counts["events"] += 1
        if event.get("event.kind") == "pipeline_error":
            counts["errors"] += 1
        out.write(orjson.dumps(event))
        out.write(b"\n")
    out.flush()
    print(f"shouwang parse: {counts['events']} events from {len(paths)} capture file(s), "
          f"{counts['errors']} errors", file=sys.stderr)
    return EXIT_ERROR if counts["errors"] else EXIT_OK


def _chunks(path: str):
    """Raw bytes of a path (stdin for '-'), decompressed when it starts with gzip's magic."""
    if path == "-":
        stream = sys.stdin.buffer
        while chunk := stream.read(READ_CHUNK_BYTES):
            yield chunk
        return
    with open(path, "rb") as stream:
        gzipped = stream.read(2) == b"\x1f\x8b"
        stream.seek(0)
        if gzipped:
            yield from iter_gunzip(stream, READ_CHUNK_BYTES)
            return
        while chunk := stream.read(READ_CHUNK_BYTES):
            yield chunk


def _lines(path: str, totals: dict):
    pending = b""
    try:
        for chunk in _chunks(path):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield _decode(raw, totals)
    except (GzipDamaged, OSError) as exc:
        totals["errors"] += 1
        print(f"shouwang parse: error: {path}: {exc} (kept what could be read)", file=sys.stderr)
    if pending:
        yield _decode(pending, totals)


def _decode(raw: bytes, totals: dict) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        totals["invalid_utf8"] += 1
        return raw.decode("utf-8", errors="replace")
