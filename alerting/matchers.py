"""Label matchers with Alertmanager's syntax and semantics.

    name="value"   equal          name!="value"   not equal
    name=~"regex"  RE2 match      name!~"regex"   RE2 no match

Regexes are anchored at both ends as Alertmanager anchors them (``^(?:regex)$``), so
``severity=~"crit"`` does not match "critical". RE2 (google-re2) is used so that a matcher typed
into the API or a config file cannot cost exponential time. A missing label matches as the
empty string (``team=""`` matches alerts without a team), as in Alertmanager.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import re2

OPERATORS = ("=~", "!~", "!=", "=")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.S)


@dataclass(frozen=True)
class Matcher:
    """One label test; `matches(labels)` is the contract."""

    name: str
    op: str
    value: str
    _regex: object = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, op: str, value: str) -> "Matcher":
        if op not in OPERATORS:
            raise ValueError(f"unknown matcher operator {op!r} (use =, !=, =~ or !~)")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re2.compile(f"^(?:{value})$")
            except re2.error as exc:
                raise ValueError(f"invalid RE2 regex {value!r}: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._regex.match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """`name op value` where value is double-quoted (escapes \\" and \\\\) or bare."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a matcher like name=\"value\" (ops: = != =~ !~)")
    name, op, raw = found.groups()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        value = re.sub(r'\\(.)', r'\1', raw[1:-1])
    elif raw.startswith('"') or raw.endswith('"'):
        raise ValueError(f"{text!r}: unbalanced quotes in the value")
    else:
        value = raw
    return Matcher.build(name, op, value)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(text) for text in texts)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)
