"""Sigma condition trees (pySigma's parsed conditions, after our pipeline) compiled once into
plain predicates over flat ECS event dicts.

Semantics (Sigma specification, as SigmaHQ rules expect them):
- Strings match case-insensitively unless `|cased`; `*` and `?` are wildcards; `contains`,
  `startswith`, `endswith` have already become wildcards in pySigma's values.
- Keywords (values without a field) are substring searches over the raw line
  (`event.original`, else `message`), case-insensitive, wildcards honoured.
- `|re` is an RE2 search (unanchored), with the i/m/s flags; a pattern RE2 cannot compile is
  rejected when the rule loads (`UnsupportedSigma`), never run on Python's backtracking re.
- `|cidr` tests an IP address field; `|exists` field presence; `null` an absent or empty field;
  numbers equal numbers or their string form (status 404 == '404'); gt/gte/lt/lte compare
  numbers; `|fieldref` compares with another field of the same event.
- `|base64`, `|base64offset`, `|windash`, `|all` are expanded by pySigma into the tree
  (SigmaExpansion values are OR-linked alternatives).
- A list-valued event field (event.category) matches when any element does.

Speed: exact strings on a field become a frozenset lookup. Every other string (contains,
startswith, endswith, wildcards) and every `|re` of every rule compiled with one `Scanner`
goes into one RE2 Set per (field, case mode): an event's url.original or raw line is scanned
once for all rules together, and a rule's leaf is a membership test on the hits.
`compile_condition` returns the predicate and the event.dataset values the pipeline pinned
at the top of the tree (see pipeline.py), which the index uses instead of testing them.

Gates: a predicate that cannot hold unless one of some patterns occurs carries `needs`,
{Scanner feature of a slot: pattern numbers}; SigmaDetector hands it to the engine as its gate
(detectors/gates.py), so an event none of a rule's patterns hit never reaches the rule.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable

import re2
from sigma.conditions import (ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT,
                              ConditionOR, ConditionValueExpression)
from sigma.types import (CompareOperators, Placeholder, SigmaBool, SigmaCasedString,
                         SigmaCIDRExpression, SigmaCompareExpression, SigmaExists,
                         SigmaExpansion, SigmaFieldReference, SigmaNull, SigmaNumber,
                         SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString,
                         SigmaTimestampPart, SpecialChars)

from detectors.conditions import joined

Predicate = Callable[[dict], bool]
KEYWORD_FIELDS = ("event.original", "message")
MISSING = object()
SCAN_CACHE_MAX = 4_096   # remembered values per field slot


class UnsupportedSigma(Exception):
    """A rule construct the evaluator cannot run; the message is the rejection reason."""


def _always(_event: dict) -> bool:
    return True


def _keyword_text(event: dict) -> Any:
    text = event.get("event.original")
    if text is None:
        text = event.get("message")
    return text


def _getter(field: str | None) -> Callable[[dict], Any]:
    if field is None:
        return _keyword_text
    return lambda event: event.get(field)


# ---- strings -------------------------------------------------------------------------------

def _parts(value: SigmaString) -> list:
    parts = list(value.s)
    for part in parts:
        if isinstance(part, Placeholder):
            raise UnsupportedSigma(f"placeholder %{part.name}% (needs a value list; use "
                                   "the expand modifier with a placeholder pipeline)")
    return parts


def _pattern(parts: list) -> str:
    out = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re2.escape(part))
    return "".join(out)


class Scanner:
    """Every string and regex pattern of every rule compiled with it, one RE2 Set per
    (field, case mode): an event's field is scanned once, whatever number of rules test it,
    and each rule's leaf only asks whether one of its pattern numbers is among the hits.

    Results are kept for the event being examined (the engine shows one event to all its
    candidate rules in turn), so the cache holds one event. Patterns are added while rules
    compile; the Sets compile on first use, after which adding is an error.

    Field values repeat (user agents, paths, DNS names): the hits of recent string values are
    remembered per field slot, because one Set scan costs about 1.5 us. Raw lines (keyword
    slot) are nearly always unique, so they are not remembered.
    """

    def __init__(self):
        self._patterns: dict[tuple, list[str]] = {}
        self._sets: dict[tuple, Any] | None = None
        self._event: dict | None = None
        self._hits: dict[tuple, frozenset] = {}
        self._features: dict[tuple, SlotHits] = {}
        self._recent: dict[tuple, dict] = {}   # field slot -> {value: hits}, cleared when full

    def feature(self, slot: tuple) -> "SlotHits":
        """The engine gate feature of `slot` (one object per slot, shared by its rules)."""
        return self._features.setdefault(slot, SlotHits(self, slot))

    def add(self, slot: tuple, pattern: str) -> int:
        if self._sets is not None:
            raise RuntimeError("scanner already compiled")
        _re2(pattern)  # a pattern RE2 refuses is the rule's fault: reject it here
        patterns = self._patterns.setdefault(slot, [])
        patterns.append(pattern)
        return len(patterns) - 1

    def _compile(self) -> None:
        sets = {}
        for slot, patterns in self._patterns.items():
            compiled = re2.Set.SearchSet()
            for pattern in patterns:
                compiled.Add(pattern)
            compiled.Compile()
            # bytes straight to the compiled set: the wrapper's Match is one more Python frame
            # per scan (another google-re2 layout: the wrapper, which takes bytes too)
            sets[slot] = getattr(compiled, "_set", compiled).Match
        self._sets = sets

    def hits(self, event: dict, slot: tuple) -> frozenset:
        if event is not self._event:
            self._event = event
            self._hits = {}
        found = self._hits.get(slot)
        if found is None:
            if self._sets is None:
                self._compile()
            field, cased = slot
            if field is None:
                found = self._scan(self._sets[slot], _keyword_text(event), cased)
            else:
                found = self._field_hits(slot, event.get(field), cased)
            self._hits[slot] = found
        return found

    def _field_hits(self, slot: tuple, value: Any, cased: bool) -> frozenset:
        if type(value) is not str:   # True == 1 as dict keys, but they scan as "true" and "1"
            return self._scan(self._sets[slot], value, cased)
        recent = self._recent.get(slot)
        if recent is None:
            recent = self._recent[slot] = {}
        found = recent.get(value)
        if found is None:
            found = self._scan(self._sets[slot], value, cased)
            if len(recent) >= SCAN_CACHE_MAX:
                recent.clear()
            recent[value] = found
        return found

    @staticmethod
    def _scan(match: Callable[[bytes], Any], value: Any, cased: bool) -> frozenset:
        if type(value) is str:   # nearly always: one text, no list of items to build
            if not cased:
                value = value.lower()
            # bytes skip the wrapper's per-call character/byte offset mapping (2x faster)
            return frozenset(match(value.encode("utf-8", "surrogatepass")) or ())
        items = value if isinstance(value, list) else (value,)
        found: list[int] = []
        for item in items:
            text = _text_of(item)
            if text is None:
                continue
            if not cased:
                text = text.lower()
            matched = match(text.encode("utf-8", "surrogatepass"))
            if matched:
                found += matched
        return frozenset(found)


class SlotHits:
    """Gate feature (detectors/gates.py): the pattern numbers of a slot hit by an event."""

    __slots__ = ("scanner", "slot")

    def __init__(self, scanner: Scanner, slot: tuple):
        self.scanner = scanner
        self.slot = slot

    def __call__(self, event: dict) -> frozenset:
        return self.scanner.hits(event, self.slot)


def _needing(predicate: Predicate, needs: dict | None) -> Predicate:
    """`predicate`, marked as holding only when one of `needs` is hit (see module docstring)."""
    if needs:
        predicate.needs = needs  # type: ignore[attr-defined]
    return predicate


def _string_pattern(parts: list, cased: bool, keyword: bool) -> tuple[str, str | None]:
    """('exact', text) for a plain value, else ('set', an RE2 search pattern)."""
    star = SpecialChars.WILDCARD_MULTI
    if keyword:
        # keywords are substring searches over the line
        if not parts or parts[0] is not star:
            parts = [star] + parts
        if parts[-1] is not star:
            parts = parts + [star]
    if not any(isinstance(part, SpecialChars) for part in parts):
        text = "".join(parts)
        return "exact", text if cased else text.lower()
    if not cased:
        parts = [part.lower() if isinstance(part, str) else part for part in parts]
    lead = parts[0] is star
    trail = parts[-1] is star
    core = parts[(1 if lead else 0):(len(parts) - 1 if trail else len(parts))]
    if not core:
        return "set", "(?s)^"  # '*' alone: any value at all
    return "set", ("(?s)" + ("" if lead else "^") + _pattern(core) + ("" if trail else "$"))


def _string_predicate(field: str | None, strings: list[SigmaString],
                      scanner: Scanner) -> Predicate:
    get = _getter(field)
    tests: list[Predicate] = []
    for cased in (False, True):
        chosen = [s for s in strings if isinstance(s, SigmaCasedString) is cased]
        if not chosen:
            continue
        exact: set[str] = set()
        ids: set[int] = set()
        slot = (field, cased)
        for item in chosen:
            kind, text = _string_pattern(_parts(item), cased, keyword=field is None)
            if kind == "exact":
                exact.add(text)
            else:
                ids.add(scanner.add(slot, text))
        if exact:
            tests.append(_exact_test(get, frozenset(exact), cased))
        if ids:
            wanted = frozenset(ids)
            hits = scanner.hits
            tests.append(_needing(lambda event, slot=slot, wanted=wanted:
                                  not wanted.isdisjoint(hits(event, slot)),
                                  {scanner.feature(slot): wanted}))
    return _any_of(tests)


def _exact_test(get, allowed: frozenset, cased: bool) -> Predicate:
    def equal(event: dict) -> bool:
        value = get(event)
        for item in value if isinstance(value, list) else (value,):
            text = _text_of(item)
            if text is not None and (text if cased else text.lower()) in allowed:
                return True
        return False
    return equal


def _re2(pattern: str):
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise UnsupportedSigma(f"regular expression RE2 cannot compile: {exc}") from None


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- other value types ----------------------------------------------------------------------

def _each(get: Callable[[dict], Any], test: Callable[[Any], bool]) -> Predicate:
    def matches(event: dict) -> bool:
        value = get(event)
        if value is None:
            return False
        if isinstance(value, list):
            return any(item is not None and test(item) for item in value)
        return test(value)
    return matches


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _regex_predicate(field: str | None, value: SigmaRegularExpression,
                     scanner: Scanner) -> Predicate:
    flags = ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    if SigmaRegularExpressionFlag.DOTALL in value.flags:
        flags += "s"
    text = value.regexp.to_plain()
    slot = (field, True)  # the pattern carries its own case flag
    index = scanner.add(slot, (f"(?{flags})" if flags else "") + text)
    hits = scanner.hits
    return _needing(lambda event: index in hits(event, slot),
                    {scanner.feature(slot): frozenset({index})})


def _cidr_predicate(field: str | None, value: SigmaCIDRExpression) -> Predicate:
    network = value.network

    def inside(item: Any) -> bool:
        if not isinstance(item, str):
            return False
        try:
            return ipaddress.ip_address(item) in network
        except ValueError:
            return False
    return _each(_getter(field), inside)


_COMPARE = {
    CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
}


def _compare_predicate(field: str | None, value: SigmaCompareExpression) -> Predicate:
    bound = value.number.number
    if value.op is CompareOperators.NEQ:
        return _each(_getter(field), lambda item: (n := _number(item)) is None or n != bound)
    op = _COMPARE[value.op]
    return _each(_getter(field), lambda item: (n := _number(item)) is not None and op(n, bound))


def _fieldref_predicate(field: str | None, value: SigmaFieldReference) -> Predicate:
    other = value.field

    def same(event: dict) -> bool:
        left, right = _text_of(event.get(field)), _text_of(event.get(other))
        if left is None or right is None:
            return False
        left, right = left.lower(), right.lower()
        if value.starts_with:
            return left.startswith(right)
        if value.ends_with:
            return left.endswith(right)
        return left == right
    return same


def _leaf(field: str | None, value: Any, scanner: Scanner) -> Predicate:
    """The predicate of one field = value (or keyword) leaf."""
    if isinstance(value, SigmaString):
        return _string_predicate(field, [value], scanner)
    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedSigma(f"time part modifier ({value.timestamp_part.name.lower()})")
    if isinstance(value, SigmaNumber):
        number = value.number
        allowed = frozenset({number, str(number)})

        def equal(item: Any) -> bool:
            if isinstance(item, bool):
                return False
            try:
                return item in allowed
            except TypeError:
                return False
        return _each(_getter(field), equal)
    if isinstance(value, SigmaBool):
        wanted = bool(value)
        return _each(_getter(field), lambda item: item is wanted
                     or (isinstance(item, str) and item.lower() == str(wanted).lower()))
    if isinstance(value, SigmaNull):
        if field is None:
            raise UnsupportedSigma("null keyword")
        return lambda event: event.get(field) in (None, "", [])
    if isinstance(value, SigmaExists):
        if field is None:
            raise UnsupportedSigma("exists without a field")
        wanted = bool(value)
        return lambda event: (event.get(field) not in (None, "", [])) is wanted
    if isinstance(value, SigmaRegularExpression):
        return _regex_predicate(field, value, scanner)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_predicate(field, value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_predicate(field, value)
    if isinstance(value, SigmaFieldReference):
        return _fieldref_predicate(field, value)
    if isinstance(value, SigmaExpansion):
        return _any_of(_merge_leaves([(field, item) for item in value.values], scanner))
    raise UnsupportedSigma(f"value type {type(value).__name__}")


def _merge_leaves(leaves: list[tuple[str | None, Any]], scanner: Scanner) -> list[Predicate]:
    """OR-linked leaves: plain strings on the same field share one matcher."""
    strings: dict[str | None, list[SigmaString]] = {}
    others: list[Predicate] = []
    for field, value in leaves:
        if isinstance(value, SigmaString):
            strings.setdefault(field, []).append(value)
        else:
            others.append(_leaf(field, value, scanner))
    return [_string_predicate(field, values, scanner)
            for field, values in strings.items()] + others


def _any_of(tests: list[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    either = joined(" or ", [(test, False) for test in tests])
    # one of the alternatives must hold: so one of all their needs, if each has some
    needs: dict = {}
    for test in tests:
        if not getattr(test, "needs", None):
            return either
        for feature, wanted in test.needs.items():
            needs[feature] = needs.get(feature, frozenset()) | wanted
    return _needing(either, needs)


def _all_of(tests: list[Predicate]) -> Predicate:
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    both = joined(" and ", [(test, False) for test in tests])
    # every part must hold: the needs of any one of them will do
    return _needing(both, next((test.needs for test in tests if getattr(test, "needs", None)),
                               None))


def _flatten(node, kind) -> list:
    if isinstance(node, kind):
        out = []
        for arg in node.args:
            out += _flatten(arg, kind)
        return out
    return [node]


def compile_node(node, scanner: Scanner) -> Predicate:
    """A predicate for one node of a parsed Sigma condition."""
    if isinstance(node, ConditionAND):
        return _all_of([compile_node(arg, scanner) for arg in _flatten(node, ConditionAND)])
    if isinstance(node, ConditionOR):
        args = _flatten(node, ConditionOR)
        leaves = [(arg.field, arg.value) if isinstance(arg, ConditionFieldEqualsValueExpression)
                  else (None, arg.value) for arg in args
                  if isinstance(arg, (ConditionFieldEqualsValueExpression,
                                      ConditionValueExpression))]
        rest = [compile_node(arg, scanner) for arg in args
                if not isinstance(arg, (ConditionFieldEqualsValueExpression,
                                        ConditionValueExpression))]
        return _any_of(_merge_leaves(leaves, scanner) + rest)
    if isinstance(node, ConditionNOT):
        inner = compile_node(node.args[0], scanner)
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node.field, node.value, scanner)
    if isinstance(node, ConditionValueExpression):
        return _leaf(None, node.value, scanner)
    raise UnsupportedSigma(f"condition element {type(node).__name__}")


def _pinned_datasets(node) -> tuple[list[str], Any]:
    """Split `event.dataset` values the pipeline ANDed at the top off the tree."""
    if not isinstance(node, ConditionAND):
        return [], node
    datasets: list[str] = []
    rest = []
    for arg in _flatten(node, ConditionAND):
        values = _dataset_values(arg)
        if values is not None and not datasets:
            datasets = values
        else:
            rest.append(arg)
    return datasets, rest


def _dataset_values(node) -> list[str] | None:
    leaves = _flatten(node, ConditionOR)
    values = []
    for leaf in leaves:
        if not (isinstance(leaf, ConditionFieldEqualsValueExpression)
                and leaf.field == "event.dataset" and isinstance(leaf.value, SigmaString)
                and not leaf.value.contains_special()):
            return None
        values.append(leaf.value.to_plain())
    return values


def compile_condition(rule, scanner: Scanner) -> tuple[Predicate, list[str]]:
    """The predicate of a pySigma SigmaRule (its conditions OR-linked, as Sigma defines a list
    of conditions) and the datasets the pipeline pinned (empty when it pinned none)."""
    trees = [condition.parse() for condition in rule.detection.parsed_condition]
    datasets: list[str] = []
    tests = []
    for tree in trees:
        pinned, rest = _pinned_datasets(tree)
        if pinned and (not datasets or datasets == pinned):
            datasets = pinned
            tests.append(_all_of([compile_node(arg, scanner) for arg in rest]))
        else:
            tests.append(compile_node(tree, scanner))
    return _any_of(tests), datasets
