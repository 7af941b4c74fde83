"""Annotated sample files, one per rule: tests/samples/<rule id>.log (fail2ban's idea).

    # findings: 1                                    whole file through this rule alone
    # expect: {"match": true, "source.ip": "192.0.2.7", "user.name": "root"}
    Nov 25 10:00:01 host sshd[1]: Failed password for root from 192.0.2.7 port 2 ssh2
    # expect: {"match": false}
    Nov 25 10:00:02 host sshd[1]: Accepted publickey for deploy from 192.0.2.8 port 3 ssh2

An `expect` comment applies to the next line: `match` says whether the rule selects it, every
other key is a field the parsed event must carry with that value. Other lines (no comment) are
context: they go through the rule too but are not checked one by one. Lines starting with "#"
that are not annotations are comments.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.errors import InputError
from detectors.trial import run_trial

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "tests" / "samples"
EXPECT = "# expect:"
FINDINGS = "# findings:"


@dataclass
class SampleFile:
    path: Path
    lines: list[tuple[int, str]] = field(default_factory=list)
    expectations: dict[int, dict] = field(default_factory=dict)  # line number -> expect
    findings: int | None = None


def read_samples(path: Path) -> SampleFile:
    sample = SampleFile(path)
    pending: dict | None = None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(EXPECT):
            try:
                pending = json.loads(line[len(EXPECT):])
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: bad expect JSON: {exc.msg}") from None
            if not isinstance(pending, dict) or not isinstance(pending.get("match"), bool):
                raise InputError(f'{path}:{number}: expect needs "match": true|false')
            continue
        if line.startswith(FINDINGS):
            sample.findings = int(line[len(FINDINGS):].strip())
            continue
        if not line.strip() or line.startswith("#"):
            continue
        sample.lines.append((number, line))
        if pending is not None:
            sample.expectations[number] = pending
            pending = None
    return sample


def check_samples(loaded_rule, sample: SampleFile,
                  parse: Callable[[str], dict | None]) -> list[str]:
    """Problems found (empty: the rule does what its samples say)."""
    problems = []
    if not sample.expectations:
        problems.append(f"{sample.path}: no '# expect:' annotations")
    trial = run_trial(loaded_rule, sample.lines, parse)
    for result in trial.lines:
        expect = sample.expectations.get(result.number)
        if expect is None:
            continue
        where = f"{sample.path}:{result.number}"
        if result.selected != expect["match"]:
            problems.append(f"{where}: expected match={expect['match']}, got {result.selected}")
        for name, value in expect.items():
            if name == "match":
                continue
            got = (result.event or {}).get(name)
            if got != value:
                problems.append(f"{where}: expected {name}={value!r}, got {got!r}")
    if sample.findings is not None and len(trial.findings) != sample.findings:
        problems.append(f"{sample.path}: expected {sample.findings} finding(s), "
                        f"got {len(trial.findings)}")
    return problems
