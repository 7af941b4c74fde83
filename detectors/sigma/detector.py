"""Sigma rules as detectors of the streaming engine (detectors/engine.py).

`SigmaRuleView` carries what the engine and detectors/findings.build_finding read from a rule
(id, name, severity, ATT&CK, datasets, window, reason templates), so Sigma findings have exactly
the alert shape of the built-in rules; `finish_finding` then adds what only Sigma has: every
technique and tactic the tags name, the Sigma level, status, author and logsource.

Single-event rules (`SigmaDetector`) fire on a matching event. So that a scanner sending ten
thousand matching requests raises one alert and not ten thousand, a rule stays quiet for
`suppress_secs` per subject (source.address, else host.hostname) after it fires, counted in
shouwang_detector_suppressed_total; alerting groups further. Correlation rules are in
correlation.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.sigma.attack import NO_REF, AttackContext, AttackRef

DEFAULT_SUPPRESS_SECS = 60.0
DEFAULT_MAX_KEYS = 100_000
SUBJECT_FIELD = "shouwang.sigma.subject"
SUBJECT_DETAILS = ("source.ip", "source.address", "source.domain", "source.port", "user.name",
                   "destination.ip", "destination.port", "host.hostname", "process.name",
                   "http.request.method", "http.response.status_code", "user_agent.original",
                   "dns.question.name")


@dataclass(frozen=True)
class Reason:
    en: str
    zh: str


@dataclass
class SigmaRuleView:
    """A compiled Sigma rule (or correlation) in the shape detectors and build_finding read."""

    id: str
    name: str
    description: str
    severity: str
    level: str
    references: list[str]
    attack: AttackContext
    datasets: list[str]
    predicate: Any                        # event -> bool (None for correlations)
    window_secs: float = DEFAULT_SUPPRESS_SECS
    max_keys: int = DEFAULT_MAX_KEYS
    key: list[str] = field(default_factory=lambda: [SUBJECT_FIELD])
    categories: list[str] = field(default_factory=list)
    match: dict = field(default_factory=dict)
    unless: dict = field(default_factory=dict)
    any_of: list = field(default_factory=list)
    logsource: str = ""
    status: str | None = None
    author: str | None = None
    false_positives: list[str] = field(default_factory=list)
    file: str = ""
    reason: Reason = Reason("Sigma rule matched: {rule.name} ({shouwang.sigma.subject})",
                            "Sigma 规则命中：{rule.name}（{shouwang.sigma.subject}）")
    enabled: bool = True

    # build_finding reads one tactic/technique; the full lists go in by finish_finding
    @property
    def tactic(self) -> AttackRef:
        return self.attack.tactics[0] if self.attack.tactics else NO_REF

    @property
    def technique(self) -> AttackRef:
        return self.attack.techniques[0] if self.attack.techniques else NO_REF

    @property
    def subtechnique(self) -> AttackRef | None:
        return self.attack.subtechniques[0] if self.attack.subtechniques else None


def _ids_and_names(refs: tuple[AttackRef, ...]) -> tuple[Any, Any]:
    ids = [ref.id for ref in refs]
    names = [ref.name for ref in refs]
    # one value stays a plain string, as built-in findings have it; several become a list
    return (ids[0], names[0]) if len(ids) == 1 else (ids, names)


def finish_finding(finding: dict, rule: SigmaRuleView) -> dict:
    """Sigma's own fields on a finding from build_finding; None values are left out."""
    finding["rule.ruleset"] = "sigma"
    finding["rule.uuid"] = rule.id
    for prefix, refs in (("threat.tactic", rule.attack.tactics),
                         ("threat.technique", rule.attack.techniques),
                         ("threat.technique.subtechnique", rule.attack.subtechniques)):
        finding.pop(f"{prefix}.id", None)
        finding.pop(f"{prefix}.name", None)
        if refs:
            ids, names = _ids_and_names(refs)
            finding[f"{prefix}.id"] = ids
            if any(name is not None for name in (names if isinstance(names, list) else [names])):
                finding[f"{prefix}.name"] = names
    if not rule.attack.tactics and not rule.attack.techniques:
        finding.pop("threat.framework", None)
    finding["shouwang.sigma.level"] = rule.level
    finding["shouwang.sigma.logsource"] = rule.logsource
    if rule.status:
        finding["shouwang.sigma.status"] = rule.status
    if rule.author:
        finding["rule.author"] = rule.author
    return {key: value for key, value in finding.items() if value is not None}


def subject_of(event: dict) -> str:
    """Whom a single-event finding is about: the client address, else the host."""
    for field_name in ("source.address", "source.ip", "host.hostname", "host.name"):
        value = event.get(field_name)
        if value not in (None, "") and not isinstance(value, (list, dict)):
            return str(value)
    return "-"


class SigmaDetector(WindowDetector):
    """A single-event Sigma rule: every matching event may fire (see suppression above)."""

    def __init__(self, rule: SigmaRuleView, metrics, created):
        super().__init__(rule, metrics, created)
        self.predicate = rule.predicate
        needs = getattr(rule.predicate, "needs", None)
        self.gates = (tuple(needs.items()),) if needs else ()

    def select(self, event: dict):
        if not self.predicate(event):
            return None
        return (subject_of(event),), None

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        if self.quiet(key, ts):
            return None
        evidence = Evidence(1, ts, ts, [event.get("event.id")], event)
        extra = {SUBJECT_FIELD: key[0]}
        for field_name in ("url.original", "url.path"):
            if field_name in event:
                extra[field_name] = event[field_name]
        finding = self.fire(key, ts, evidence, extra)
        # one event is the whole evidence: who and where, as the event says it
        for field_name in SUBJECT_DETAILS:
            value = event.get(field_name)
            if value is not None and field_name not in finding:
                finding[field_name] = value
        return finish_finding(finding, self.rule)
