"""Joins continuation lines (stack traces) into one record.

mode "continuation": a line matching `pattern` belongs to the record before it ('^\\s' for
indented Java/Python trace lines). mode "start": a line matching `pattern` starts a record and
every other line belongs to the previous one. A record holds at most `max_lines` lines, and a
pending record is released after `timeout_secs` without a new line (the last trace in a file).

Each record carries the byte offset just after its last line, so a file collector checkpoints
only what was emitted: pending lines are read again after a restart.
"""
from __future__ import annotations

import re
import time
from typing import Callable


class Multiline:
    def __init__(self, pattern: str, mode: str = "continuation", max_lines: int = 500,
                 timeout_secs: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self._match = re.compile(pattern).search
        self._start_mode = mode == "start"
        self.max_lines = max_lines
        self.timeout_secs = timeout_secs
        self._clock = clock
        self._lines: list[str] = []
        self._end_offset = 0
        self._last_added = 0.0

    @property
    def pending(self) -> bool:
        return bool(self._lines)

    def feed(self, line: str, end_offset: int) -> tuple[str, int] | None:
        """Add a line; returns the record it completed, if any."""
        matched = self._match(line) is not None
        continues = (not matched) if self._start_mode else matched
        done = None
        if continues and self._lines and len(self._lines) < self.max_lines:
            self._lines.append(line)
        else:
            done = self.flush()
            self._lines = [line]
        self._end_offset = end_offset
        self._last_added = self._clock()
        return done

    def flush_due(self) -> tuple[str, int] | None:
        if self._lines and self._clock() - self._last_added >= self.timeout_secs:
            return self.flush()
        return None

    def flush(self) -> tuple[str, int] | None:
        if not self._lines:
            return None
        record = ("\n".join(self._lines), self._end_offset)
        self._lines = []
        return record

    def reset(self) -> None:
        self._lines = []
