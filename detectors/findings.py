"""Findings: ECS events of kind `alert` built from a rule and the evidence of one window.

Severity. `shouwang.severity` is one of critical/high/medium/low, mapped to the four incident
classes of GB/Z 20986-2007 (信息安全事件分类分级指南) so that reports use the national wording:

    critical -> 特别重大事件 (Class I)    event.severity 99
    high     -> 重大事件     (Class II)   event.severity 73
    medium   -> 较大事件     (Class III)  event.severity 47
    low      -> 一般事件     (Class IV)   event.severity 21

The numbers follow the risk scores common in ECS detection rules, so a SIEM sorting by
event.severity ranks ours like its own. The class a rule declares is the class of one
occurrence; alerting may raise it (many hosts, a critical asset), detectors never do.

Determinism: everything in a finding comes from the rule and the events, except
`event.created` (our clock). `event.id` is a hash of rule, key and window start, so replaying
the same input gives the same ids (and a store deduplicates a replay).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable

from core.events import format_ts

FINDING_DATASET = "shouwang.detect"
SAMPLE_IDS_MAX = 5
RELATED_MAX = 20

SEVERITY_SCORE = {"critical": 99, "high": 73, "medium": 47, "low": 21}
INCIDENT_CLASS = {
    "critical": ("I", "特别重大事件"),
    "high": ("II", "重大事件"),
    "medium": ("III", "较大事件"),
    "low": ("IV", "一般事件"),
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.@]+)\}")


class Evidence:
    """What one window saw for one key: count, first/last event time, a few event ids."""

    __slots__ = ("count", "first_seen", "last_seen", "sample_ids", "values", "last_event")

    def __init__(self, count: int, first_seen: float, last_seen: float,
                 sample_ids: Iterable[str | None], last_event: dict,
                 values: Iterable[Any] = ()):
        self.count = count
        self.first_seen = first_seen
        self.last_seen = last_seen
        self.sample_ids = [i for i in sample_ids if i][:SAMPLE_IDS_MAX]
        self.values = list(values)
        self.last_event = last_event


def render(template: str, values: dict) -> str:
    """Fill "{source.ip}" style placeholders; unknown names stay visible as "?"."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "?")), template)


def _listify(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


def build_finding(rule, key_fields: list[str], key: tuple, evidence: Evidence, *,
                  created: str, extra: dict | None = None) -> dict:
    """The alert event for `rule` firing on `key` with `evidence`."""
    key_values = dict(zip(key_fields, key))
    window_start = format_ts(evidence.first_seen)
    digest = hashlib.blake2b(f"{rule.id}\x00{key!r}\x00{window_start}".encode(),
                             digest_size=12).hexdigest()
    level = rule.severity
    roman, class_zh = INCIDENT_CLASS[level]
    context = {**evidence.last_event, **key_values, "count": evidence.count,
               "window_secs": int(rule.window_secs) if float(rule.window_secs).is_integer()
               else rule.window_secs, "rule.name": rule.name}
    if extra:
        context.update(extra)
    reason_en = render(rule.reason.en, context)
    reason_zh = render(rule.reason.zh, context)
    finding = {
        "@timestamp": format_ts(evidence.last_seen),
        "event.created": created,
        "event.id": digest,
        "event.kind": "alert",
        "event.dataset": FINDING_DATASET,
        "event.module": "shouwang",
        "event.category": ["intrusion_detection"],
        "event.type": ["indicator"],
        "event.severity": SEVERITY_SCORE[level],
        "event.reason": f"{reason_zh} / {reason_en}",
        "message": reason_en,
        "rule.id": rule.id,
        "rule.name": rule.name,
        "rule.description": rule.description,
        "rule.reference": list(rule.references),
        "rule.ruleset": "shouwang",
        "threat.framework": "MITRE ATT&CK",
        "threat.tactic.id": rule.tactic.id,
        "threat.tactic.name": rule.tactic.name,
        "threat.technique.id": rule.technique.id,
        "threat.technique.name": rule.technique.name,
        "shouwang.severity": level,
        "shouwang.incident_class": f"{roman} {class_zh}",
        "shouwang.reason.en": reason_en,
        "shouwang.reason.zh": reason_zh,
        "shouwang.evidence.count": evidence.count,
        "shouwang.evidence.first_seen": window_start,
        "shouwang.evidence.last_seen": format_ts(evidence.last_seen),
        "shouwang.evidence.sample_event_ids": evidence.sample_ids,
        "shouwang.window_secs": rule.window_secs,
    }
    if rule.subtechnique is not None:
        finding["threat.technique.subtechnique.id"] = rule.subtechnique.id
        finding["threat.technique.subtechnique.name"] = rule.subtechnique.name
    for field, value in key_values.items():
        finding[field] = value
    last = evidence.last_event
    if "source.address" in key_values:
        # keyed by address (an IP or a host name): say which, as ECS consumers expect
        for field in ("source.ip", "source.domain"):
            if field in last:
                finding[field] = last[field]
    for field in ("event.dataset", "host.name", "host.hostname", "destination.ip",
                  "url.domain", "service.name"):
        if field in last and field not in finding:
            finding[f"shouwang.source_{field.replace('.', '_')}" if field == "event.dataset"
                    else field] = last[field]
    ips = _listify(key_values.get("source.ip")) or _listify(last.get("source.ip"))
    users = _listify(key_values.get("user.name")) or _listify(last.get("user.name"))
    if extra:
        # values a distinct rule collected come first: they are what the finding is about
        ips = _unique(_listify(extra.get("related.ip")) + ips)
        users = _unique(_listify(extra.get("related.user")) + users)
        for field, value in extra.items():
            if field.startswith("shouwang.") or field in ("url.original", "url.path"):
                finding[field] = value
    if ips:
        finding["related.ip"] = ips[:RELATED_MAX]
    if users:
        finding["related.user"] = users[:RELATED_MAX]
    return finding
