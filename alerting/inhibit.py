"""Inhibition: firing source alerts mute target alerts (Alertmanager's inhibit_rules), and
topology folding: an alert that is a symptom of another (shouwang.symptom_of) is muted by
its root cause and listed on it.

Rules are indexed: for each rule, firing source alerts are kept by their values of the
`equal` labels, so checking a target costs one dict lookup per rule, not a scan of every alert.
An alert never inhibits itself, even when it matches both sides (as in Alertmanager).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from alerting.matchers import Matcher, parse_matchers
from alerting.model import Alert
from alerting.settings import InhibitRule


@dataclass
class _Rule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    sources: dict[tuple, set[str]]

    def key(self, labels: Mapping[str, str]) -> tuple:
        return tuple(labels.get(name, "") for name in self.equal)


class Inhibitor:
    def __init__(self, rules: list[InhibitRule]):
        self._rules = [_Rule(rule.name or f"rule{index}", parse_matchers(rule.source_matchers),
                             parse_matchers(rule.target_matchers), tuple(rule.equal), {})
                       for index, rule in enumerate(rules)]

    def source_firing(self, alert: Alert) -> None:
        for rule in self._rules:
            if all(m.matches(alert.labels) for m in rule.source):
                rule.sources.setdefault(rule.key(alert.labels), set()).add(alert.fingerprint)

    def source_resolved(self, alert: Alert) -> None:
        for rule in self._rules:
            members = rule.sources.get(rule.key(alert.labels))
            if members is not None:
                members.discard(alert.fingerprint)
                if not members:
                    del rule.sources[rule.key(alert.labels)]

    def inhibited_by(self, alert: Alert) -> list[str]:
        found: list[str] = []
        for rule in self._rules:
            if not rule.sources:
                continue
            members = rule.sources.get(rule.key(alert.labels))
            if members and all(m.matches(alert.labels) for m in rule.target):
                found.extend(sorted(fp for fp in members if fp != alert.fingerprint))
        return found


class Topology:
    """Active alerts by the component they are about, to find a symptom's root cause."""

    def __init__(self):
        self._by_component: dict[str, set[str]] = {}

    @staticmethod
    def _names(alert: Alert) -> set[str]:
        return {alert.labels[key] for key in ("component", "root_cause", "instance")
                if key in alert.labels}

    def add(self, alert: Alert) -> None:
        for name in self._names(alert):
            self._by_component.setdefault(name, set()).add(alert.fingerprint)

    def remove(self, alert: Alert) -> None:
        for name in self._names(alert):
            members = self._by_component.get(name)
            if members is not None:
                members.discard(alert.fingerprint)
                if not members:
                    del self._by_component[name]

    def root_of(self, alert: Alert, alerts: Mapping[str, Alert]) -> Alert | None:
        """The active root-cause alert of a symptom, or None (then it notifies on its own)."""
        target = alert.symptom_of
        if not target:
            return None
        root = alerts.get(target)
        if root is None:
            candidates = [alerts[fp] for fp in self._by_component.get(target, ())
                          if fp != alert.fingerprint and fp in alerts
                          and not alerts[fp].symptom_of]
            root = min(candidates, key=lambda a: (a.starts_at, a.fingerprint), default=None)
        if root is None or root.fingerprint == alert.fingerprint or not root.is_active:
            return None
        return root
