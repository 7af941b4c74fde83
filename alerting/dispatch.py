"""Grouping and the notification timers, with Alertmanager's semantics.

Each route splits its alerts into aggregation groups by the route's group_by labels. A group:
- flushes first `group_wait_secs` after it was created (0 = at once: the service flushes a new
  group inline, no timer involved), then every `group_interval_secs`;
- at a flush, decides as Alertmanager's notification log does whether to send: send when the
  set of unmuted firing alerts is not a subset of what was last sent, when an alert that was
  sent as firing has resolved since, or when `repeat_interval_secs` has passed since the last
  send and something still fires. A resolved alert that was never sent firing is never sent
  (an alert resolved within group_wait makes no noise);
- drops its resolved alerts after each flush, and itself once empty.
The notification log (`GroupLog`, persisted by the service) records what each (group,
receiver) last sent, so a restart does not repeat a notification.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
from dataclasses import dataclass, field, replace
from typing import Callable

from alerting.labels import group_labels
from alerting.model import Alert, Notification
from alerting.routing import Route


@dataclass
class GroupLogEntry:
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


@dataclass(eq=False)
class Group:
    key: str
    route: Route
    labels: dict[str, str]
    created_at: float
    next_flush_at: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    flushed: bool = False


def _group_key(route: Route, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{name}="{labels[name]}"' for name in sorted(labels))
    return f"{route.key}:{{{inner}}}"


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    common = dict(dicts[0])
    for other in dicts[1:]:
        for key in [k for k, v in common.items() if other.get(k) != v]:
            del common[key]
    return common


def notification_id(group_key: str, receiver: str, at: float, firing, resolved) -> str:
    text = f"{group_key}|{receiver}|{at!r}|{','.join(sorted(firing))}|{','.join(sorted(resolved))}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class Dispatcher:
    """Aggregation groups of every route; `add(alert, routes, now)`, `due(now)`, `flush`."""

    def __init__(self, *, is_muted: Callable[[Alert, float], bool],
                 route_muted: Callable[[Route, float], bool], external_url: str = ""):
        self.groups: dict[str, Group] = {}
        self.log: dict[tuple[str, str], GroupLogEntry] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._is_muted = is_muted
        self._route_muted = route_muted
        self.external_url = external_url
        self.alert_groups: dict[str, list[Group]] = {}

    def add(self, alert: Alert, routes: list[Route], now: float) -> list[Group]:
        """Put an alert into its groups; returns the groups created by it."""
        created = []
        member_of = self.alert_groups.setdefault(alert.fingerprint, [])
        for route in routes:
            labels = group_labels(alert.labels, route.group_by)
            key = _group_key(route, labels)
            group = self.groups.get(key)
            if group is None:
                group = Group(key, route, labels, now, now + route.group_wait_secs)
                self.groups[key] = group
                heapq.heappush(self._timers, (group.next_flush_at, next(self._seq), key))
                created.append(group)
            if alert.fingerprint not in group.alerts:
                group.alerts[alert.fingerprint] = alert
                member_of.append(group)
        return created

    def contains(self, fp: str) -> bool:
        return bool(self.alert_groups.get(fp))

    def due(self, now: float) -> list[Group]:
        found = []
        while self._timers and self._timers[0][0] <= now:
            at, _, key = heapq.heappop(self._timers)
            group = self.groups.get(key)
            if group is not None and group.next_flush_at == at:
                found.append(group)
        return found

    def next_due_at(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def flush(self, group: Group, now: float) -> Notification | None:
        """Decide and build the group's notification (None: nothing to send); reschedule the
        group after group_interval and drop its resolved alerts."""
        route = group.route
        notification = None
        if not self._route_muted(route, now):
            notification = self._build(group, now)
        group.flushed = True
        for fp in [fp for fp, a in group.alerts.items() if a.ends_at is not None
                   and a.ends_at <= now]:
            del group.alerts[fp]
            member_of = self.alert_groups.get(fp)
            if member_of is not None and group in member_of:
                member_of.remove(group)
                if not member_of:
                    del self.alert_groups[fp]
        if group.alerts:
            group.next_flush_at = now + route.group_interval_secs
            heapq.heappush(self._timers, (group.next_flush_at, next(self._seq), group.key))
        else:
            del self.groups[group.key]
        return notification

    def _build(self, group: Group, now: float) -> Notification | None:
        route = group.route
        firing = [a for a in group.alerts.values()
                  if (a.ends_at is None or a.ends_at > now) and not self._is_muted(a, now)]
        resolved = [a for a in group.alerts.values() if a.ends_at is not None
                    and a.ends_at <= now]
        firing_set = frozenset(a.fingerprint for a in firing)
        entry = self.log.get((group.key, route.receiver))
        sent_firing = entry.firing if entry else frozenset()
        # Only alerts people were told about are worth a "resolved" message.
        resolved = [a for a in resolved if a.fingerprint in sent_firing]
        resolved_set = frozenset(a.fingerprint for a in resolved)
        if entry is None:
            send = bool(firing_set)
        elif not firing_set <= entry.firing:
            send = True
        elif not resolved_set <= entry.resolved:
            send = True
        else:
            send = bool(firing_set) and now - entry.sent_at >= route.repeat_interval_secs
        if not send:
            return None
        self.log[(group.key, route.receiver)] = GroupLogEntry(firing_set, resolved_set, now)
        alerts = [replace(a, labels=dict(a.labels), annotations=dict(a.annotations),
                          finding_ids=list(a.finding_ids), symptoms=list(a.symptoms))
                  for a in sorted(firing + resolved, key=lambda a: (a.starts_at, a.fingerprint))]
        return Notification(
            receiver=route.receiver, group_key=group.key,
            status="firing" if firing else "resolved",
            group_labels=dict(group.labels),
            common_labels=_common([a.labels for a in alerts]),
            common_annotations=_common([a.annotations for a in alerts]),
            alerts=alerts, external_url=self.external_url,
            notification_id=notification_id(group.key, route.receiver, now, firing_set,
                                             resolved_set))
