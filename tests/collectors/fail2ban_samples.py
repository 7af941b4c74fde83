"""Reads fail2ban's annotated sample logs (/work/shared/data/fail2ban-samples, outside the
repository; tests skip when it is absent): each log line follows a '# failJSON: {...}' line."""
from __future__ import annotations

import json
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fail2ban-samples"


def samples_dir() -> Path | None:
    path = SAMPLES_DIR.resolve()
    return path if path.is_dir() else None


def annotated_lines(name: str) -> list[tuple[dict, str]]:
    """(expectation, line) pairs of one sample file, in file order."""
    pairs = []
    expectation = None
    text = (samples_dir() / name).read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("# failJSON:"):
            expectation = json.loads(line.split(":", 1)[1])
            continue
        if line.startswith("#") or not line.strip():
            continue
        if expectation is not None:
            pairs.append((expectation, line))
            expectation = None
    return pairs
