"""Loading Sigma rule files into engine detectors, with a verdict for every rule.

    sigma = load_sigma_rules([Path("config/sigma/rules"), Path("/srv/sigma/rules")])
    engine = Engine.build(load_rules(DEFAULT_RULES_DIR, default_rule_types()) + sigma.active)

Every rule found ends in exactly one of three lists:
- `active`: compiled, its logsource mapped to our datasets; `LoadedRule`s the engine builds
  detectors from (kind `sigma` or `sigma_correlation`).
- `inactive`: compiled (it parses and evaluates: `compiled[id]` holds its predicate), but we
  have no events for its logsource ("no source for logsource product=linux
  category=process_creation"). Loaded, not run: mapping that logsource in
  config/sigma/ecs.local.yaml activates it with no change to the rule. We chose this over
  rejecting because the rule is sound and the gap is ours (a collector we lack).
- `rejected`: cannot be run faithfully, with the specific reason (invalid YAML or Sigma, a
  regex RE2 cannot compile, an unsupported modifier, value type or correlation condition).

Rules referenced by a correlation whose `generate` is false (the Sigma default) feed only the
correlation: they raise no findings of their own.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from detectors.rules import LoadedRule, RuleType
from detectors.sigma.attack import attack_context, severity_of
from detectors.sigma.compiler import Scanner, UnsupportedSigma, compile_condition
from detectors.sigma.correlation import CorrelationDetector, needed_count
from detectors.sigma.detector import (DEFAULT_MAX_KEYS, DEFAULT_SUPPRESS_SECS, Reason,
                                      SigmaDetector, SigmaRuleView)
from detectors.sigma.mapping import SigmaMapping, describe_logsource, load_mapping
from detectors.sigma.pipeline import build_pipeline, logsource_name

SIGMA_SUFFIXES = (".yml", ".yaml")
SIGMA_RULE_TYPE = RuleType("sigma", SigmaRuleView, SigmaDetector, "a Sigma rule (one event)")


@dataclass
class RuleVerdict:
    """Why a rule is inactive or rejected (or `active`), for reports and `rules check`."""

    id: str | None
    title: str | None
    file: str
    status: str          # active | inactive | rejected
    reason: str = ""
    category: str = ""   # the reason without rule-specific detail, for counting


@dataclass
class SigmaLoad:
    active: list[LoadedRule] = field(default_factory=list)
    inactive: list[RuleVerdict] = field(default_factory=list)
    rejected: list[RuleVerdict] = field(default_factory=list)
    compiled: dict[str, SigmaRuleView] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.active) + len(self.inactive) + len(self.rejected)

    @property
    def loaded(self) -> int:
        """Rules that parse and evaluate (active or inactive)."""
        return len(self.active) + len(self.inactive)

    def reasons(self) -> Counter:
        return Counter(v.category for v in self.rejected)

    def inactive_reasons(self) -> Counter:
        return Counter(v.category for v in self.inactive)

    def summary(self) -> str:
        """One line for logs and `shouwang detect`: the three verdicts, counted."""
        text = (f"sigma: {len(self.active)} rules active, {len(self.inactive)} inactive (no "
                f"source for their logsource), {len(self.rejected)} rejected")
        if self.rejected:
            text += " (" + ", ".join(f"{reason}: {count}" for reason, count
                                     in self.reasons().most_common()) + ")"
        return text


def sigma_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files under `paths` (files or directories, recursively), sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.suffix in SIGMA_SUFFIXES and p.is_file()]
        elif path.is_file():
            found.append(path)
    return sorted(found)


def _category(message: str) -> str:
    text = message.lower()
    for needle, category in (
            ("rule identifier", "invalid Sigma: bad or missing id"),
            ("regular expression", "regex RE2 cannot compile"),
            ("modifier", "unsupported or invalid modifier"),
            ("placeholder", "placeholder without a value list"),
            ("time part", "time part modifier"),
            ("correlation", "unsupported correlation"),
            ("condition", "invalid condition"),
            ("yaml", "invalid YAML")):
        if needle in text:
            return category
    return message.split(":")[0][:60]


class _Loader:
    def __init__(self, mapping: SigmaMapping, suppress_secs: float, max_keys: int):
        self.mapping = mapping
        self.pipeline = build_pipeline(mapping)
        self.suppress_secs = suppress_secs
        self.max_keys = max_keys
        self.result = SigmaLoad()
        # inactive rules scan with their own Sets, so that they cost active ones nothing
        self.scanner = Scanner()
        self.inactive_scanner = Scanner()

    def reject(self, rule_id, title, file, message: str) -> None:
        self.result.rejected.append(RuleVerdict(rule_id, title, file, "rejected", message,
                                                _category(message)))

    def read(self, files: list[Path]) -> list:
        rules = []
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
                collection = SigmaCollection.from_yaml(
                    text, collect_errors=True, resolve_references=False,
                    source=SigmaRuleLocation(path))
            except (SigmaError, ValueError, OSError) as exc:
                self.reject(None, None, str(path), f"invalid YAML or Sigma: {exc}")
                continue
            for rule in collection.rules:
                rule.shouwang_file = str(path)
                if rule.errors:
                    self.reject(str(rule.id) if rule.id else None, rule.title, str(path),
                                str(rule.errors[0]))
                else:
                    rules.append(rule)
        return rules

    def view(self, rule, predicate, datasets, logsource: str, **extra) -> SigmaRuleView:
        level = rule.level.name.lower() if rule.level is not None else "medium"
        return SigmaRuleView(
            id=str(rule.id) if rule.id else rule.name or rule.title,
            name=rule.title, description=(rule.description or rule.title).strip(),
            severity=severity_of(level), level=level,
            references=list(rule.references or []),
            attack=attack_context([str(tag) for tag in rule.tags or []]),
            datasets=list(datasets), predicate=predicate, window_secs=self.suppress_secs,
            max_keys=self.max_keys, logsource=logsource,
            status=rule.status.name.lower() if rule.status is not None else None,
            author=rule.author, false_positives=list(rule.falsepositives or []),
            file=getattr(rule, "shouwang_file", ""), **extra)

    def compile_rule(self, rule: SigmaRule) -> tuple[SigmaRuleView | None, str | None]:
        """(view, None) for an active rule; (view, reason) for an inactive one; rejects."""
        file = getattr(rule, "shouwang_file", "")
        source = rule.logsource
        try:
            self.pipeline.apply(rule)
            name = logsource_name(rule)
            scanner = self.scanner if name is not None else self.inactive_scanner
            predicate, datasets = compile_condition(rule, scanner)
        except (UnsupportedSigma, SigmaError) as exc:
            self.reject(str(rule.id), rule.title, file, str(exc))
            return None, None
        described = describe_logsource(source.product, source.category, source.service)
        view = self.view(rule, predicate, datasets, name or described)
        self.result.compiled[view.id] = view
        if name is None:
            return view, f"no source for logsource {described}"
        return view, None

    def load(self, files: list[Path]) -> SigmaLoad:
        rules = self.read(files)
        collection = SigmaCollection(rules, resolve_references=False)
        correlations = [r for r in rules if isinstance(r, SigmaCorrelationRule)]
        plain = [r for r in rules if isinstance(r, SigmaRule)]
        quiet_members: set[int] = set()
        for correlation in correlations:
            try:
                correlation.resolve_rule_references(collection)
            except SigmaError as exc:
                self.reject(str(correlation.id), correlation.title,
                            getattr(correlation, "shouwang_file", ""), str(exc))
                correlation.shouwang_broken = True
                continue
            if not correlation.generate:
                quiet_members |= {id(ref.rule) for ref in correlation.rules}
        views: dict[int, tuple[SigmaRuleView | None, str | None]] = {}
        for rule in plain:
            view, why = self.compile_rule(rule)
            views[id(rule)] = (view, why)
            if view is None:
                continue
            file = getattr(rule, "shouwang_file", "")
            if why is not None:
                self.result.inactive.append(RuleVerdict(view.id, view.name, file, "inactive",
                                                        why, "no source for logsource "
                                                        + view.logsource))
            elif id(rule) not in quiet_members:
                self.result.active.append(LoadedRule(view, file, SIGMA_RULE_TYPE))
        for correlation in correlations:
            if not getattr(correlation, "shouwang_broken", False):
                self.load_correlation(correlation, views)
        return self.result

    def load_correlation(self, correlation: SigmaCorrelationRule, views: dict) -> None:
        file = getattr(correlation, "shouwang_file", "")
        members = []
        for ref in correlation.rules:
            view, why = views.get(id(ref.rule), (None, None))
            if view is None:
                self.reject(str(correlation.id), correlation.title, file,
                            f"correlation references rule {ref.reference!r}, which was "
                            "rejected or is itself a correlation (nesting unsupported)")
                return
            members.append((ref, view, why))
        try:
            needed = needed_count(correlation)
            self.pipeline.apply(correlation)
        except (UnsupportedSigma, SigmaError) as exc:
            self.reject(str(correlation.id), correlation.title, file, str(exc))
            return
        group_by = [self._field(name, members[0][1]) for name in correlation.group_by or []]
        aliases: dict[str, dict[int, str]] = {}
        for alias in correlation.aliases:
            per_member = {}
            for index, (ref, view, _) in enumerate(members):
                for alias_ref, field_name in alias.mapping.items():
                    if alias_ref.reference == ref.reference:
                        per_member[index] = self._field(field_name, view)
            aliases[alias.alias] = per_member
        value_field = None
        if correlation.type is SigmaCorrelationType.VALUE_COUNT:
            value_field = self._field(correlation.condition.fieldref, members[0][1])
        datasets = sorted({d for _, view, _ in members for d in view.datasets})
        view = self.view(correlation, None, datasets, members[0][1].logsource,
                         key=group_by or ["shouwang.sigma.subject"])
        if not correlation.tags:
            # a correlation usually leaves ATT&CK to the rules it joins
            view.attack = attack_context([str(tag) for ref, _, _ in members
                                          for tag in ref.rule.tags or []])
        view.window_secs = float(correlation.timespan.seconds)
        view.reason = Reason(
            "{rule.name}: correlation " + correlation.type.name.lower() + " reached {count} "
            "within {window_secs}s",
            "{rule.name}：关联规则 " + correlation.type.name.lower() + " 在 {window_secs} 秒内达到 "
            "{count}")
        self.result.compiled[view.id] = view
        inactive = [why for _, _, why in members if why]
        if inactive:
            self.result.inactive.append(RuleVerdict(view.id, view.name, file, "inactive",
                                                    inactive[0], inactive[0]))
            return
        kind = correlation.type
        member_predicates = [v.predicate for _, v, _ in members]
        member_datasets = [set(v.datasets) for _, v, _ in members]

        def detector(rule, metrics, created, *, _kind=kind):
            return CorrelationDetector(
                rule, metrics, created, kind=_kind,
                members=[_scoped(p, d) for p, d in zip(member_predicates, member_datasets)],
                needed=needed, value_field=value_field, aliases=aliases)
        rule_type = RuleType("sigma_correlation", SigmaRuleView, detector,
                             "a Sigma correlation rule")
        self.result.active.append(LoadedRule(view, file, rule_type))

    def _field(self, name: str, view: SigmaRuleView) -> str:
        """A Sigma field name of a correlation in ECS terms (the common map; pipelines do not
        rename group-by fields in every pySigma version)."""
        source = self.mapping.logsources.get(view.logsource)
        if source is not None and name in source.fields:
            return source.fields[name]
        return self.mapping.fields.get(name, name)


def _scoped(predicate, datasets: set[str]):
    """A member's predicate limited to its own datasets (the correlation is indexed under the
    union of its members', so an event of one member's dataset must not meet another's)."""
    if not datasets:
        return predicate
    return lambda event: event.get("event.dataset") in datasets and predicate(event)


def load_sigma_rules(paths: Iterable[str | Path], *, mapping: SigmaMapping | None = None,
                     suppress_secs: float = DEFAULT_SUPPRESS_SECS,
                     max_keys: int = DEFAULT_MAX_KEYS) -> SigmaLoad:
    """Load every Sigma rule under `paths` (see the module docstring for the verdicts)."""
    loader = _Loader(mapping or load_mapping(), suppress_secs, max_keys)
    return loader.load(sigma_files(paths))
