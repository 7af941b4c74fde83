"""The data that flows through alerting: findings -> Alert -> Notification -> receivers.

    finding (ECS dict of kind "alert", from detectors or the Alertmanager intake)
      -> Alert         one per fingerprint (rule + grouping labels); deduplicates findings
      -> Notification  a group of alerts for one receiver at one moment (what is sent)

Labels are flat str -> str maps (Alertmanager's model), taken from the finding: alertname
(rule.name or rule.id), rule_id, severity, system, component, source_ip, host, technique...
Annotations carry text for people (summary, description, runbook_url, root_cause...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class AlertState(str, Enum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    INHIBITED = "inhibited"


class Severity(str, Enum):
    """Our four levels, mapped to the national incident classes of GB/Z 20986."""

    CRITICAL = "critical"   # 特别重大事件 (class I)
    HIGH = "high"           # 重大事件 (class II)
    MEDIUM = "medium"       # 较大事件 (class III)
    LOW = "low"             # 一般事件 (class IV)


INCIDENT_CLASS_ZH = {
    Severity.CRITICAL: "特别重大",
    Severity.HIGH: "重大",
    Severity.MEDIUM: "较大",
    Severity.LOW: "一般",
}


@dataclass(slots=True)   # slots: 100k active alerts must fit in a few hundred MB
class Alert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    starts_at: float                      # epoch seconds
    ends_at: float | None = None          # set when resolved
    updated_at: float = 0.0
    occurrences: int = 1
    finding_ids: list[str] = field(default_factory=list)   # bounded: the latest few
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silenced_by: list[str] = field(default_factory=list)    # silence ids
    inhibited_by: list[str] = field(default_factory=list)   # fingerprints
    generator_url: str = ""
    expires_at: float | None = None       # resolves then unless a finding renews it
    symptom_of: str | None = None         # root cause (fingerprint or component) it folds into
    symptoms: list[str] = field(default_factory=list)       # fingerprints folded into this one

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "low")

    @property
    def is_active(self) -> bool:
        return self.state is not AlertState.RESOLVED


@dataclass
class Notification:
    """What a receiver sends: the alerts of one group, as Alertmanager would send them."""

    receiver: str
    group_key: str
    status: str                           # "firing" if any alert fires, else "resolved"
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[Alert]
    external_url: str = ""
    notification_id: str = ""             # idempotency key: the notification log dedups on it
    language: str = "zh"                  # template language for people-facing receivers
