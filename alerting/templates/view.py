"""What templates see: a notification turned into plain dicts of ready-to-print fields.

Templates get no model objects, only strings, numbers, lists and dicts, so a user template in
the sandbox can read everything and call nothing. Times are already formatted in the
configured time zone; severities carry the national incident class (GB/Z 20986).

Where a field comes from (alerting/labels.py writes them):
    rule        label alertname            host        label host, else instance
    system      label system               source_ip   label source_ip
    component   label component            technique   label technique (+ annotation
    root_cause  label/annotation root_cause                technique_name), tactic label
    symptoms    annotation symptoms, else symptom_of (the alert this one is a symptom of)
    runbook     annotation runbook_url     dashboard   annotation dashboard_url/grafana_url
"""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerting.model import INCIDENT_CLASS_ZH, Alert, AlertState, Notification, Severity

_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_SEVERITY_EN = {
    Severity.CRITICAL: "Class I (particularly serious)",
    Severity.HIGH: "Class II (serious)",
    Severity.MEDIUM: "Class III (relatively serious)",
    Severity.LOW: "Class IV (general)",
}
_CLASS_NUMBER = {Severity.CRITICAL: "I", Severity.HIGH: "II", Severity.MEDIUM: "III",
                 Severity.LOW: "IV"}
_STATUS = {"zh": {"firing": "告警", "resolved": "已恢复"},
           "en": {"firing": "FIRING", "resolved": "RESOLVED"}}


def zone(name: str) -> dt.tzinfo:
    """The named zone; Asia/Shanghai falls back to a fixed +08:00 where tzdata is missing
    (China has no daylight saving time, so the fixed offset is exact)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name in ("Asia/Shanghai", "Asia/Chongqing", "PRC"):
            return dt.timezone(dt.timedelta(hours=8), "CST")
        raise


def format_time(epoch: float | None, tz: dt.tzinfo) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def severity_of(alert: Alert) -> Severity:
    try:
        return Severity(alert.severity)
    except ValueError:
        return Severity.LOW


def alert_view(alert: Alert, language: str, tz: dt.tzinfo) -> dict[str, Any]:
    labels, notes = alert.labels, alert.annotations
    severity = severity_of(alert)
    status = "firing" if alert.is_active else "resolved"
    return {
        "status": status,
        "status_text": _STATUS[language][status],
        "rule": labels.get("alertname", ""),
        "rule_id": labels.get("rule_id", ""),
        "severity": severity.value,
        "incident_class": INCIDENT_CLASS_ZH[severity],
        "severity_text": f"{INCIDENT_CLASS_ZH[severity]}事件（{_CLASS_NUMBER[severity]} 级）" if language == "zh"
        else _SEVERITY_EN[severity],
        "system": labels.get("system", ""),
        "component": labels.get("component", ""),
        "host": labels.get("host") or labels.get("instance", ""),
        "source_ip": labels.get("source_ip", ""),
        "starts_at": format_time(alert.starts_at, tz),
        "ends_at": format_time(alert.ends_at, tz) if status == "resolved" else "",
        "summary": notes.get("summary", ""),
        "description": notes.get("description", ""),
        "root_cause": labels.get("root_cause") or notes.get("root_cause", ""),
        "symptoms": notes.get("symptoms") or notes.get("symptom_of", ""),
        "technique": labels.get("technique", ""),
        "technique_name": notes.get("technique_name", ""),
        "tactic": labels.get("tactic", ""),
        "occurrences": alert.occurrences,
        "runbook_url": notes.get("runbook_url", ""),
        "dashboard_url": notes.get("dashboard_url") or notes.get("grafana_url", ""),
        "generator_url": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "labels": dict(sorted(labels.items())),
        "annotations": dict(sorted(notes.items())),
    }


def notification_view(notification: Notification, *, language: str, tz: dt.tzinfo,
                      max_alerts_listed: int, extra: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """The template context. Alerts are listed most severe first, firing before resolved."""
    views = [alert_view(alert, language, tz) for alert in notification.alerts]
    views.sort(key=lambda v: (v["status"] != "firing", _SEVERITY_RANK[v["severity"]]))
    firing = sum(1 for v in views if v["status"] == "firing")
    top = views[0] if views else alert_view(_EMPTY_ALERT, language, tz)
    rule = notification.common_labels.get("alertname") or top["rule"]
    context = {
        "language": language,
        "status": notification.status,
        "status_text": _STATUS[language].get(notification.status, notification.status),
        "receiver": notification.receiver,
        "rule": rule,
        "top": top,
        "alerts": views[:max_alerts_listed],
        "alerts_total": len(views),
        "alerts_firing": firing,
        "alerts_resolved": len(views) - firing,
        "alerts_not_listed": max(0, len(views) - max_alerts_listed),
        "group_labels": dict(notification.group_labels),
        "common_labels": dict(notification.common_labels),
        "common_annotations": dict(notification.common_annotations),
        "external_url": notification.external_url,
        "digest_count": 0,
    }
    context.update(extra or {})
    return context


# Stands in for the first alert of a notification without alerts (templates need not check).
_EMPTY_ALERT = Alert(fingerprint="", labels={}, annotations={}, state=AlertState.RESOLVED,
                     starts_at=0.0)
