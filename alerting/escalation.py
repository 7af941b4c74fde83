"""Escalation: an alert nobody acknowledges is sent to the next level of its route's policy.

An alert is tracked from its first firing notification on a route that has an
`escalation_policy`. Level i fires `levels[i].after_secs` after that notification, sending an
escalation notification to the level's receivers and to whoever is on call then in the
level's schedules. Tracking stops when the alert is acknowledged or resolved; a silenced or
inhibited alert does not escalate while it is muted (its clock keeps running, so it escalates
at once if the mute ends after the deadline).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

from alerting.dispatch import notification_id
from alerting.model import Alert, Notification
from alerting.oncall import Rotation
from alerting.settings import EscalationPolicy


@dataclass
class Tracked:
    fingerprint: str
    policy: str
    started_at: float
    level: int = 0          # levels already sent


class Escalator:
    def __init__(self, policies: Mapping[str, EscalationPolicy],
                 rotations: Mapping[str, Rotation], external_url: str = ""):
        self.policies = dict(policies)
        self.rotations = dict(rotations)
        self.tracked: dict[str, Tracked] = {}
        self.external_url = external_url

    def start(self, alert: Alert, policy: str, now: float) -> Tracked | None:
        if alert.fingerprint in self.tracked or policy not in self.policies:
            return None
        tracked = Tracked(alert.fingerprint, policy, now)
        self.tracked[alert.fingerprint] = tracked
        return tracked

    def stop(self, fp: str) -> bool:
        return self.tracked.pop(fp, None) is not None

    def targets(self, policy: str, level: int, now: float) -> list[str]:
        step = self.policies[policy].levels[level]
        receivers = list(step.receivers)
        for schedule in step.oncall:
            rotation = self.rotations.get(schedule)
            if rotation is not None:
                receivers.append(rotation.on_call(now).receiver)
        return list(dict.fromkeys(receivers))

    def due(self, alerts: Mapping[str, Alert], now: float,
            is_muted: Callable[[Alert, float], bool]) -> tuple[list[Notification], list[Tracked]]:
        """Escalation notifications due now, and the tracked entries that changed."""
        notifications: list[Notification] = []
        changed: list[Tracked] = []
        for fp, tracked in list(self.tracked.items()):
            alert = alerts.get(fp)
            if alert is None or alert.ends_at is not None or alert.acknowledged_by:
                del self.tracked[fp]
                continue
            levels = self.policies[tracked.policy].levels
            if tracked.level >= len(levels) or is_muted(alert, now):
                continue
            step = levels[tracked.level]
            if now < tracked.started_at + step.after_secs:
                continue
            level_number = tracked.level + 1
            snapshot = replace(alert, labels=dict(alert.labels),
                               annotations={**alert.annotations,
                                            "escalation_level": str(level_number),
                                            "escalation_policy": tracked.policy})
            group_key = f"escalation/{tracked.policy}/{fp}/level{level_number}"
            for receiver in self.targets(tracked.policy, tracked.level, now):
                notifications.append(Notification(
                    receiver=receiver, group_key=group_key, status="firing",
                    group_labels={"alertname": alert.labels.get("alertname", "")},
                    common_labels=dict(alert.labels),
                    common_annotations=dict(snapshot.annotations), alerts=[snapshot],
                    external_url=self.external_url,
                    notification_id=notification_id(group_key, receiver, now, [fp], [])))
            tracked.level = level_number
            changed.append(tracked)
        return notifications, changed
