"""Parser throughput on one core: `.venv/bin/python -m tests.collectors.measure_parsers`.

Not a test (timings vary by machine); prints lines/s for nginx combined and sshd lines, with
the format named explicitly and with "auto", and for `LineNormalizer` (what sources run).
"""
from __future__ import annotations

import time

from collectors.parsers.base import LineNormalizer
from collectors.parsers.catalog import build_parser, default_registry

LINES = 200_000


def nginx_lines(count: int) -> list[str]:
    return [f'10.0.{i % 256}.{i % 200} - - [25/Nov/2026:14:{i % 60:02d}:{(i // 60) % 60:02d} '
            f'+0800] "GET /api/v1/items/{i}?page={i % 7} HTTP/1.1" 200 {i % 5000} '
            f'"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"'
            for i in range(count)]


def sshd_lines(count: int) -> list[str]:
    return [f"Nov 25 14:{i % 60:02d}:{(i // 60) % 60:02d} web01 sshd[{1000 + i % 500}]: "
            f"Failed password for invalid user admin{i % 50} from 203.0.{i % 256}.{i % 250} "
            f"port {40000 + i % 20000} ssh2" for i in range(count)]


def measure(format_name: str, lines: list[str]) -> float:
    normalizer = LineNormalizer(build_parser(format_name, default_registry()))
    event = normalizer.event
    started = time.perf_counter()
    for line in lines:
        event(line)
    assert normalizer.unparsed == 0
    return len(lines) / (time.perf_counter() - started)


def main() -> None:
    for label, format_name, lines in (("nginx combined", "nginx", nginx_lines(LINES)),
                                      ("nginx combined (auto)", "auto", nginx_lines(LINES)),
                                      ("sshd", "sshd", sshd_lines(LINES)),
                                      ("sshd (auto)", "auto", sshd_lines(LINES))):
        measure(format_name, lines[:5000])  # warm caches and the interpreter
        print(f"{label:24s} {measure(format_name, lines):>10,.0f} lines/s")


if __name__ == "__main__":
    main()
