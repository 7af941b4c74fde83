"""Field conditions of rule files, compiled once into plain predicates over event dicts.

YAML shape (a mapping of flat dotted ECS field -> test; all must hold):

    match:
      event.outcome: failure                      # equals (shorthand)
      event.action: {in: [ssh_failed, ssh_invalid_user]}
      url.path: {regex: '(?i)^/(login|signin)'}   # RE2, searched anywhere in the value
      source.ip: {cidr: [10.0.0.0/8]}
      user.name: {exists: true}
    any_of:                                       # and at least one of these sets
      - {event.action: http_auth_failure}
      - {error.code: {in: [AH02031, AH02032]}}
    unless:                                       # none of these may hold
      source.ip: {cidr: [127.0.0.0/8]}

A list-valued event field (event.category) satisfies a test when any element does. Regexes are
RE2 (linear time, no catastrophic backtracking) and invalid ones are rejected at load time.
Numbers and strings compare as written in the event (status codes are ints), except that `in`
and `equals` also accept the string form of a number, so YAML authors need not care.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable

import re2
from pydantic import Field, field_validator, model_validator

from core.settings import StrictModel
from detectors.gates import FieldValues

Predicate = Callable[[dict], bool]
MISSING = object()
REGEX_CACHE_MAX = 4_096


class FieldTest(StrictModel):
    """One test on one field; exactly one of the keys is given."""

    equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    regex: str | None = None
    cidr: list[str] | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if not isinstance(value, dict):
            return {"equals": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [name for name in ("equals", "in_", "regex", "cidr", "exists")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, in, regex, cidr, exists")
        return self

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value):
        if value is not None:
            try:
                re2.compile(value)
            except re2.error as exc:
                raise ValueError(f"invalid RE2 regex {value!r}: {exc}") from None
        return value

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value):
        for item in value or ():
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"invalid network {item!r}") from None
        return value


def _normalize(value: Any) -> set:
    """A value and, for numbers, its string form (and vice versa) so 401 == '401'."""
    out = {value} if not isinstance(value, (list, dict)) else set()
    if isinstance(value, bool):
        return out
    if isinstance(value, int):
        out.add(str(value))
    elif isinstance(value, str) and value.isdigit():
        out.add(int(value))
    return out


def _allowed(spec: FieldTest) -> frozenset | None:
    """The values an `equals` or `in` test accepts (numbers also as strings), else None."""
    if spec.equals is None and spec.in_ is None:
        return None
    allowed: set = set()
    for item in ([spec.equals] if spec.in_ is None else spec.in_):
        allowed |= _normalize(item)
    return frozenset(allowed)


def gates_of(match: dict[str, FieldTest]) -> tuple:
    """Engine gates (detectors/gates.py) implied by `match`: its equals and in tests."""
    return tuple(((FieldValues(field), allowed),) for field, spec in match.items()
                 if (allowed := _allowed(spec)) is not None)


def _any(value, test: Callable[[Any], bool]) -> bool:
    if isinstance(value, list):
        return any(test(item) for item in value)
    return test(value)


def re2_tester(pattern: str) -> Callable[[str], bool]:
    """`text -> bool`: does RE2 `pattern` occur in text. Calls the compiled RE2 object
    directly: the wrapper's search() builds a match object and maps byte offsets back to
    characters, which doubles the cost when only a yes or no is wanted."""
    compiled = re2.compile(pattern)
    regexp = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if regexp is None or anchor is None:       # another google-re2 layout: the public API
        return lambda text: compiled.search(text) is not None

    def test(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return regexp.Match(anchor, data, 0, len(data))[0][0] != -1
    return test


def compile_test(field: str, spec: FieldTest) -> Predicate:
    """A predicate for one field test; closures keep the hot path to a dict lookup and a call."""
    if spec.exists is not None:
        wanted = spec.exists
        return lambda event: (event.get(field) is not None) is wanted
    frozen = _allowed(spec)
    if frozen is not None:

        def member(event: dict) -> bool:
            value = event.get(field, MISSING)
            if value is MISSING:
                return False
            try:
                if isinstance(value, list):
                    return not frozen.isdisjoint(value)
                return value in frozen
            except TypeError:   # a list holding lists or dicts: test its scalar items
                return isinstance(value, list) and any(
                    item in frozen for item in value if not isinstance(item, (list, dict)))
        return member
    if spec.regex is not None:
        search = re2_tester(spec.regex)
        # Values repeat (user agents, paths, actions): remember recent answers, because one
        # call into the RE2 wrapper costs several microseconds. Bounded: cleared when full.
        cache: dict = {}

        def found(item) -> bool:
            hit = cache.get(item)
            if hit is None:
                hit = search(str(item))
                if len(cache) >= REGEX_CACHE_MAX:
                    cache.clear()
                cache[item] = hit
            return hit

        def matches(event: dict) -> bool:
            value = event.get(field)
            if value is None:
                return False
            if isinstance(value, list):
                return any(found(item) for item in value if not isinstance(item, (list, dict)))
            if isinstance(value, dict):
                return False
            return found(value)
        return matches
    networks = [ipaddress.ip_network(item, strict=False) for item in spec.cidr or ()]

    def inside(event: dict) -> bool:
        value = event.get(field)
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(address in network for network in networks)
    return inside


def compile_conditions(match: dict[str, FieldTest], unless: dict[str, FieldTest],
                       any_of: list[dict[str, FieldTest]] = ()) -> Predicate:
    """All of `match`, at least one set of `any_of` (when given) and none of `unless`."""
    return predicate_of(condition_terms(match, unless, any_of))


def predicate_of(terms: list[tuple[Predicate, bool]]) -> Predicate:
    """The predicate of condition_terms: every term holds (a negated one does not)."""
    if len(terms) == 1 and not terms[0][1]:
        return terms[0][0]
    return joined(" and ", terms)


def compile_selector(terms: list[tuple[Predicate, bool]], key_fields: list[tuple[str, ...]], *,
                     transform: Callable[[tuple], tuple | None] | None = None,
                     info: bool = False) -> Callable[[dict], Any]:
    """`event -> key`: the conditions `terms` (condition_terms), then the key, as one
    generated function (None when a condition fails or a key field is missing). A key entry is the
    first of its alternative fields whose value is neither missing, empty nor a list or dict;
    `transform` maps the key tuple on (None drops the event). With `info`, the function
    returns `(key, True)`: a rule's whole select(). One function instead of a predicate, a
    key function and select(): window rules run it on every event of their datasets."""
    namespace: dict[str, Any] = {"transform": transform}
    lines = ["def selector(event):"]
    if terms:
        body, tests = _expression(" and ", terms)
        namespace.update(tests)
        lines += [f"    if not ({body}):", "        return None"]
    for number, names in enumerate(key_fields):
        value = f"k{number}"
        for depth, name in enumerate(names, start=1):
            indent = "    " * depth
            lines += [f"{indent}{value} = event.get({name!r})",
                      f"{indent}if {value} is None or {value} == '' or "
                      f"isinstance({value}, (list, dict)):"]
        lines.append("    " * (len(names) + 1) + "return None")
    lines.append("    key = (" + "".join(f"k{number}, " for number in range(len(key_fields)))
                 + ")")
    if transform is not None:
        lines += ["    key = transform(key)", "    if key is None:", "        return None"]
    lines.append("    return key, True" if info else "    return key")
    exec("\n".join(lines) + "\n", namespace)  # noqa: S102 - our text
    return namespace["selector"]


def condition_terms(match: dict[str, FieldTest], unless: dict[str, FieldTest],
                    any_of: list[dict[str, FieldTest]] = ()) -> list[tuple[Predicate, bool]]:
    """(test, negated) pairs: all of `match`, one of `any_of`, none of `unless`."""
    terms = [(compile_test(field, spec), False) for field, spec in match.items()]
    if any_of:
        alternatives = [compile_conditions(option, {}) for option in any_of]
        terms.append((joined(" or ", [(test, False) for test in alternatives]), False))
    terms += [(compile_test(field, spec), True) for field, spec in unless.items()]
    return terms


def _expression(operator: str, terms: list[tuple[Predicate, bool]]) -> tuple[str, dict]:
    """The source `t0(event) <operator> not t1(event) ...` and the namespace naming the tests."""
    namespace = {f"t{number}": test for number, (test, _) in enumerate(terms)}
    body = operator.join(f"{'not ' if negated else ''}t{number}(event)"
                         for number, (_, negated) in enumerate(terms))
    return body, namespace


def joined(operator: str, terms: list[tuple[Predicate, bool]]) -> Predicate:
    """One function `t0(event) <operator> not t1(event) ...` over (test, negated) terms.
    Generated rather than a loop over the tests: rules run their conditions on every event
    of their datasets, and the loop and its iterator cost as much as the tests themselves."""
    if not terms:
        return lambda event: True
    body, namespace = _expression(operator, terms)
    exec(f"def predicate(event):\n    return {body}\n", namespace)  # noqa: S102 - our text
    return namespace["predicate"]
