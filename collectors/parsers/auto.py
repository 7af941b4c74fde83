"""The "auto" format: sniff a stream's format from its first lines, then fall back per line.

Each of the first `sniff_lines` lines is tried with every candidate (in catalog order) and the
first that reads it gives the event; after that the candidate that read the most sniffed lines
(ties: the earlier one) is tried first for every line, and the others only when it fails. A line
nobody reads gives None, as for any parser.
"""
from __future__ import annotations

from collectors.parsers.base import ParserOptions

DEFAULT_SNIFF_LINES = 8


class AutoParser:
    name = "auto"

    def __init__(self, parser_classes: list, options: ParserOptions | None = None, *,
                 sniff_lines: int = DEFAULT_SNIFF_LINES):
        self._parsers = [cls(options) for cls in parser_classes]
        self._scores = [0] * len(self._parsers)
        self._sniffed = 0
        self._sniff_lines = sniff_lines
        self.chosen = None

    def parse(self, line: str) -> dict | None:
        chosen = self.chosen
        if chosen is not None:
            event = chosen.parse(line)
            if event is not None:
                return event
            for parser in self._parsers:
                if parser is not chosen:
                    event = parser.parse(line)
                    if event is not None:
                        return event
            return None
        return self._sniff(line)

    def _sniff(self, line: str) -> dict | None:
        if not line.strip():
            return None
        first = None
        for index, parser in enumerate(self._parsers):
            event = parser.parse(line)
            if event is not None:
                self._scores[index] += 1
                if first is None:
                    first = event
        self._sniffed += 1
        if self._sniffed >= self._sniff_lines:
            best = max(range(len(self._parsers)), key=lambda i: (self._scores[i], -i))
            if self._scores[best]:
                self.chosen = self._parsers[best]
        return first
