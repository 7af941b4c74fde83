"""Alert lifecycle: findings -> deduplicated alerts that fire, get acknowledged and resolve.

Contract:
- `observe(labels, ...)` is one occurrence. Same labels = same fingerprint = same alert: the
  occurrence count grows, the latest finding ids are kept (at most `max_finding_ids`) and the
  resolve deadline moves to now + resolve_after (the finding's shouwang.resolve_after_secs,
  else the configured default). An explicit `ends_at` (Alertmanager intake) sets the deadline.
- `expire(now)` resolves alerts whose deadline passed: ends_at = the deadline.
- A finding for a resolved alert starts it again: new starts_at, occurrences from 1, the
  acknowledgement cleared (a new incident needs a new acknowledgement).
- `acknowledge` / `resolve` are the operators' actions; resolving by hand sets ends_at = now.
- The state shown (`refresh_state`) is resolved > acknowledged > silenced > inhibited > firing;
  silenced_by / inhibited_by are set by the service from silences and inhibition.
- `changed` collects fingerprints touched since the last `take_changed()` (for persistence).
"""
from __future__ import annotations

import heapq
from typing import Callable, Iterable, Mapping

from alerting.labels import finding_annotations, finding_labels, fingerprint
from alerting.model import Alert, AlertState

RESOLVED_KEPT_SECS = 3600.0     # resolved alerts stay in memory (and the API) this long


def refresh_state(alert: Alert) -> None:
    if alert.ends_at is not None:
        alert.state = AlertState.RESOLVED
    elif alert.acknowledged_by is not None:
        alert.state = AlertState.ACKNOWLEDGED
    elif alert.silenced_by:
        alert.state = AlertState.SILENCED
    elif alert.inhibited_by:
        alert.state = AlertState.INHIBITED
    else:
        alert.state = AlertState.FIRING


def resolve_after_of(finding: Mapping[str, object], default: float) -> float:
    value = finding.get("shouwang.resolve_after_secs")
    try:
        seconds = float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


class AlertBook:
    """All alerts in memory, keyed by fingerprint (see the module docstring)."""

    def __init__(self, *, resolve_after_secs: float, max_finding_ids: int = 10,
                 on_fire: Callable[[Alert], None] = lambda alert: None,
                 on_resolve: Callable[[Alert], None] = lambda alert: None):
        self.resolve_after_secs = resolve_after_secs
        self.max_finding_ids = max_finding_ids
        self.alerts: dict[str, Alert] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._changed: set[str] = set()
        self._on_fire = on_fire
        self._on_resolve = on_resolve

    # -- intake ----------------------------------------------------------------------------
    def observe_finding(self, finding: Mapping[str, object], now: float) -> tuple[Alert, bool]:
        finding_id = finding.get("event.id")
        return self.observe(
            finding_labels(finding), finding_annotations(finding), now,
            finding_id=str(finding_id) if finding_id else None,
            resolve_after_secs=resolve_after_of(finding, self.resolve_after_secs),
            symptom_of=str(finding["shouwang.symptom_of"]) if finding.get(
                "shouwang.symptom_of") else None)

    def observe(self, labels: dict[str, str], annotations: dict[str, str], now: float, *,
                finding_id: str | None = None, resolve_after_secs: float | None = None,
                starts_at: float | None = None, ends_at: float | None = None,
                generator_url: str = "", symptom_of: str | None = None,
                fp: str | None = None) -> tuple[Alert, bool]:
        """Record one occurrence; returns (alert, is_new) where is_new means it (re)started
        firing with this occurrence."""
        fp = fp or fingerprint(labels)
        alert = self.alerts.get(fp)
        deadline = ends_at if ends_at is not None else now + (
            resolve_after_secs or self.resolve_after_secs)
        is_new = alert is None or alert.ends_at is not None
        if alert is None:
            alert = Alert(fingerprint=fp, labels=labels, annotations=annotations,
                          state=AlertState.FIRING, starts_at=starts_at or now, updated_at=now,
                          generator_url=generator_url, symptom_of=symptom_of)
            self.alerts[fp] = alert
        elif is_new:
            alert.starts_at = starts_at or now
            alert.ends_at = None
            alert.occurrences = 1
            alert.finding_ids = []
            alert.acknowledged_by = alert.acknowledged_at = None
            alert.annotations = annotations
            alert.updated_at = now
            alert.symptom_of = symptom_of
        else:
            if deadline > now:      # a "resolved" report is not another occurrence
                alert.occurrences += 1
            alert.updated_at = now
            if annotations != alert.annotations:
                alert.annotations = annotations
            if symptom_of:
                alert.symptom_of = symptom_of
        if finding_id:
            ids = alert.finding_ids
            ids.append(finding_id)
            if len(ids) > self.max_finding_ids:
                del ids[:len(ids) - self.max_finding_ids]
        if deadline <= now:
            # Already over (an Alertmanager "resolved" status): resolve it now.
            alert.expires_at = None
            if not is_new:
                self._resolve(alert, deadline)
            else:
                alert.ends_at = deadline
                refresh_state(alert)
            self._changed.add(fp)
            return alert, False
        alert.expires_at = deadline
        heapq.heappush(self._deadlines, (deadline, fp))
        if is_new:
            refresh_state(alert)
            self._on_fire(alert)
        self._changed.add(fp)
        return alert, is_new

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Alerts read back from the state store at start."""
        for alert in alerts:
            self.alerts[alert.fingerprint] = alert
            if alert.ends_at is None:
                if alert.expires_at is not None:
                    heapq.heappush(self._deadlines, (alert.expires_at, alert.fingerprint))
                self._on_fire(alert)

    # -- time ------------------------------------------------------------------------------
    def expire(self, now: float) -> list[Alert]:
        resolved = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, fp = heapq.heappop(self._deadlines)
            alert = self.alerts.get(fp)
            # Stale heap entries (the deadline moved on) are skipped, not removed eagerly.
            if alert is None or alert.ends_at is not None or alert.expires_at != deadline:
                continue
            self._resolve(alert, deadline)
            resolved.append(alert)
        return resolved

    def forget_resolved(self, now: float, kept_secs: float = RESOLVED_KEPT_SECS) -> int:
        old = [fp for fp, a in self.alerts.items()
               if a.ends_at is not None and a.ends_at + kept_secs < now]
        for fp in old:
            del self.alerts[fp]
        return len(old)

    # -- operators -------------------------------------------------------------------------
    def acknowledge(self, fp: str, by: str, now: float) -> Alert | None:
        alert = self.alerts.get(fp)
        if alert is None or alert.ends_at is not None:
            return alert
        alert.acknowledged_by = by
        alert.acknowledged_at = now
        refresh_state(alert)
        self._changed.add(fp)
        return alert

    def resolve(self, fp: str, now: float) -> Alert | None:
        alert = self.alerts.get(fp)
        if alert is not None and alert.ends_at is None:
            self._resolve(alert, now)
        return alert

    def _resolve(self, alert: Alert, when: float) -> None:
        alert.ends_at = when
        alert.expires_at = None
        alert.updated_at = max(alert.updated_at, when)
        refresh_state(alert)
        self._changed.add(alert.fingerprint)
        self._on_resolve(alert)

    def mark_changed(self, fp: str) -> None:
        self._changed.add(fp)

    def take_changed(self) -> list[Alert]:
        changed = [self.alerts[fp] for fp in self._changed if fp in self.alerts]
        self._changed.clear()
        return changed

    def active(self) -> Iterable[Alert]:
        return (alert for alert in self.alerts.values() if alert.ends_at is None)
