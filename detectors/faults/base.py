"""What every fault rule type shares: the rule fields, keys, severity escalation and the finding.

Fault findings are findings (detectors/findings.py builds them) with these differences:
- No ATT&CK context: a full disk is not an adversary technique. Fault rules carry the
  placeholder "-" for tactic and technique (so `shouwang rules list` prints "-"), and the
  finding has no threat.* fields. A rule may still name a technique (say T1499 on an error
  ratio), and then the finding keeps it.
- `event.category` says what failed (host, network, web), `shouwang.fault.type` the rule type.
- The finding names what it is about, copied from the last event of its evidence
  (IDENTITY_FIELDS): shouwang.system and shouwang.component (else the probe's labels.system /
  labels.component), service.name, host.name, the probe target. detectors/root_cause.py
  relates findings through these.
- A rule type may raise a finding with another severity than the rule's (a fast error-budget
  burn pages, a slow one opens a ticket); a key that fired stays quiet for `window_secs` unless
  the new finding is more severe (escalation is never suppressed).

Keys: a key entry may name alternatives, "shouwang.system|host.name": the first field present
in the event gives the value, and the finding carries it under that field's name.
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from core.events import format_ts
from detectors.base import WindowDetector
from detectors.findings import INCIDENT_CLASS, SEVERITY_SCORE, Evidence, build_finding
from detectors.rules import AttackRef, RuleBase

NOT_AN_ATTACK = AttackRef.model_construct(id="-", name="not an attack")
THREAT_FIELDS = ("threat.framework", "threat.tactic.id", "threat.tactic.name",
                 "threat.technique.id", "threat.technique.name",
                 "threat.technique.subtechnique.id", "threat.technique.subtechnique.name")
IDENTITY_FIELDS = ("shouwang.system", "shouwang.component", "service.name", "host.name",
                   "shouwang.probe.target", "shouwang.probe.module", "url.full", "url.domain",
                   "agent.id", "agent.name", "observer.hostname", "labels.tier", "labels.owner")
RESOLVE_MARGIN_SECS = 60.0
MAX_FIRING_KEYS = 100_000   # keys remembered as firing (for their recovery finding)
LABEL_FALLBACKS = {"shouwang.system": "labels.system", "shouwang.component": "labels.component"}
EventKind = Literal["event", "metric", "state"]


class FaultRuleBase(RuleBase):
    """Fields of every fault rule type (on top of RuleBase)."""

    tactic: AttackRef = Field(NOT_AN_ATTACK, description="faults are not attacks: leave out")
    technique: AttackRef = Field(NOT_AN_ATTACK, description="faults are not attacks: leave out")
    key: list[str] = Field(min_length=1, description="fields whose values name one series; "
                           "'a|b' takes the first of a, b present in the event")
    kinds: list[EventKind] = Field(default_factory=lambda: ["event", "metric", "state"],
                                   min_length=1, description="event.kind values read "
                                   "(collectors emit metrics as kind metric, heartbeats as state)")
    max_keys: int = Field(10_000, ge=1, description="series kept at once (LRU beyond)")


def number(value: Any) -> float | None:
    """A finite float from an event value (ints, floats, numeric strings), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def plain(value: float) -> float | int:
    """Whole numbers as ints, so reasons read "3600s", not "3600.0s"."""
    return int(value) if float(value).is_integer() else value


def set_severity(finding: dict, level: str) -> None:
    roman, class_zh = INCIDENT_CLASS[level]
    finding["shouwang.severity"] = level
    finding["event.severity"] = SEVERITY_SCORE[level]
    finding["shouwang.incident_class"] = f"{roman} {class_zh}"


def finish_fault(finding: dict, rule, fault_type: str, event: dict,
                 category: tuple[str, ...], severity: str | None = None) -> dict:
    """The fault-specific fields of a finding built by build_finding (see module docstring)."""
    if rule.technique.id == "-":
        for name in THREAT_FIELDS:
            finding.pop(name, None)
    finding["event.category"] = list(category)
    finding["shouwang.fault.type"] = fault_type
    for name in IDENTITY_FIELDS:
        value = event.get(name)
        if name not in finding and value not in (None, "") and not isinstance(value, (list, dict)):
            finding[name] = value
    for name, fallback in LABEL_FALLBACKS.items():
        if name not in finding and event.get(fallback) not in (None, ""):
            finding[name] = event[fallback]
    if severity is not None and severity != rule.severity:
        set_severity(finding, severity)
    return finding


class FaultDetector(WindowDetector):
    """Base of the fault detectors: event kinds, alternative keys, escalating suppression and
    fault findings. Subclasses set `fault_type` and `category` and implement observe()."""

    fault_type = "fault"
    category: tuple[str, ...] = ("host",)

    def __init__(self, rule: FaultRuleBase, metrics, created):
        super().__init__(rule, metrics, created)
        self.kinds = tuple(rule.kinds)
        self._firing: dict[tuple, tuple[dict, str]] = {}   # key -> (last finding, severity)

    def key_alternatives(self) -> list[tuple[str, ...]]:
        """Key entries name alternative fields: `service.name|host.name`."""
        return [tuple(part.strip() for part in name.split("|")) for name in self.key_fields]

    def fields_of(self, event: dict) -> list[str]:
        """The field each key entry took its value from in `event`."""
        chosen = []
        for names in self.alternatives:
            for name in names:
                if event.get(name) not in (None, ""):
                    chosen.append(name)
                    break
            else:
                chosen.append(names[0])
        return chosen

    def quiet(self, key: tuple, ts: float, severity: str | None = None) -> bool:
        """True (counted) inside the quiet period of a key, unless `severity` escalates."""
        until = self._quiet.fetch(key)
        if until is not None and ts < until[0] and \
                SEVERITY_SCORE[severity or self.rule.severity] <= until[1]:
            self._suppressed.inc()
            return True
        return False

    def fire(self, key: tuple, ts: float, evidence: Evidence, extra: dict | None = None,
             severity: str | None = None) -> dict:
        level = severity or self.rule.severity
        self._quiet.put(key, (ts + self.window_secs, SEVERITY_SCORE[level]))
        self._findings.inc()
        finding = build_finding(self.rule, self.fields_of(evidence.last_event), key, evidence,
                                created=self._created(), extra=extra)
        finding = finish_fault(finding, self.rule, self.fault_type, evidence.last_event,
                               self.category, level)
        # A fault still there fires again once its quiet period (window_secs) is over, so the
        # alert must outlive two periods or it would resolve and re-fire while nothing changed.
        finding["shouwang.resolve_after_secs"] = 2 * self.window_secs + RESOLVE_MARGIN_SECS
        self._firing[key] = (finding, level)
        if len(self._firing) > MAX_FIRING_KEYS:
            self._firing.pop(next(iter(self._firing)))
        return finding

    def select_number(self, event: dict, field: str):
        """(key, value of `field` as a number), or None when the event does not match or
        the field holds no number: for rules that judge a measured value."""
        key = self.selected_key(event)
        if key is None:
            return None
        value = number(event.get(field))
        return None if value is None else (key, value)

    def recover(self, key: tuple, ts: float) -> dict | None:
        """The finding that tells alerting a fault of `key` is over (None when it was not
        firing): the fired finding's identity with `shouwang.fault.state: recovered`, so the
        alert resolves now instead of after its resolve interval."""
        fired = self._firing.pop(key, None)
        if fired is None:
            return None
        finding, level = fired
        self._quiet.drop(key)
        recovered = {name: value for name, value in finding.items()
                     if not name.startswith(("shouwang.evidence.", "shouwang.fault.last"))}
        recovered.update({
            "@timestamp": format_ts(ts), "event.created": self._created(),
            "event.id": f"{finding['event.id']}-recovered", "event.type": ["end"],
            "shouwang.fault.state": "recovered",
            "event.reason": f"recovered: {finding.get('event.reason', self.rule.name)}",
        })
        return recovered

