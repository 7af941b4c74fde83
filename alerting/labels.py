"""From a finding (ECS dict of kind "alert") to alert labels, annotations and fingerprint.

Labels identify an alert: two findings with the same labels are the same alert (deduplicated).
They therefore hold only stable, identifying fields (rule, severity, system, component,
instance, source ip, host, ATT&CK technique/tactic) and never per-occurrence data such as
event ids, counts or times; those go to annotations or to the alert's finding ids.

The table LABEL_FIELDS is the whole mapping: label name -> ECS fields tried in order.
"""
from __future__ import annotations

import hashlib
from typing import Mapping

from alerting.model import Severity

# label -> ECS fields, first present wins.
LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "rule_id": ("rule.id",),
    "system": ("shouwang.system",),
    "component": ("shouwang.component",),
    "service": ("service.name",),
    "instance": ("shouwang.instance", "service.address", "url.domain"),
    "source_ip": ("source.ip",),
    "host": ("host.name",),
    "technique": ("threat.technique.id",),
    "tactic": ("threat.tactic.name",),
}
ANNOTATION_FIELDS: dict[str, tuple[str, ...]] = {
    "summary": ("rule.name", "message"),
    "description": ("rule.description",),
    "reason": ("event.reason",),
    "technique_name": ("threat.technique.name",),
    "runbook_url": ("rule.reference", "shouwang.runbook_url"),
    "symptom_of": ("shouwang.symptom_of",),
    # Not a label: the root cause of a fault can be found after its first finding, and a
    # label that changes would split one alert into two.
    "root_cause": ("shouwang.root_cause",),
}
EXTRA_LABELS_PREFIX = "shouwang.labels."

SEVERITIES = tuple(level.value for level in Severity)
# Other vocabularies seen on findings and Alertmanager alerts -> our four classes.
SEVERITY_ALIASES = {
    "critical": "critical", "emergency": "critical", "fatal": "critical", "page": "critical",
    "high": "high", "error": "high", "major": "high",
    "medium": "medium", "warning": "medium", "warn": "medium", "minor": "medium",
    "low": "low", "info": "low", "informational": "low", "none": "low", "notice": "low",
}


def normalize_severity(value: object) -> str:
    """One of critical/high/medium/low. Numbers are ECS event.severity (0-100)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value >= 90:
            return "critical"
        if value >= 70:
            return "high"
        if value >= 40:
            return "medium"
        return "low"
    return SEVERITY_ALIASES.get(str(value or "").strip().lower(), "low")


def _text(value: object) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def finding_labels(finding: Mapping[str, object]) -> dict[str, str]:
    labels = {"alertname": _text(finding.get("rule.name")) or _text(finding.get("rule.id"))
              or "finding"}
    severity = finding.get("shouwang.severity")
    labels["severity"] = normalize_severity(severity if severity is not None
                                            else finding.get("event.severity"))
    for label, fields in LABEL_FIELDS.items():
        for name in fields:
            text = _text(finding.get(name))
            if text is not None:
                labels[label] = text
                break
    for key, value in finding.items():
        if key.startswith(EXTRA_LABELS_PREFIX) and _text(value) is not None:
            labels[key[len(EXTRA_LABELS_PREFIX):]] = _text(value)
    return labels


def finding_annotations(finding: Mapping[str, object]) -> dict[str, str]:
    annotations: dict[str, str] = {}
    for annotation, fields in ANNOTATION_FIELDS.items():
        for name in fields:
            text = _text(finding.get(name))
            if text is not None:
                annotations[annotation] = text
                break
    return annotations


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable 16-hex-digit hash of the sorted label set (same labels, same alert)."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:16]


def group_labels(labels: Mapping[str, str], group_by: tuple[str, ...] | None) -> dict[str, str]:
    """The labels an aggregation group is keyed on; None means every label ('...')."""
    if group_by is None:
        return dict(labels)
    return {name: labels[name] for name in group_by if name in labels}
