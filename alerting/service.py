"""The alerting service: findings in, notifications out. One per process, built by the
composition root from AlertingSettings, the receivers and the data directory.

    finding ─> AlertBook (dedup, resolve deadline) ─> routing tree ─> aggregation groups
      ─> flush (group timers, notification log, silences, inhibition, topology, ack)
      ─> outbox (SQLite) ─> Deliverer (per-receiver tasks, retries) ─> receivers
    tick: deadlines resolve alerts, due groups flush, unacknowledged alerts escalate

Contract:
- `handle_finding(finding)` takes one ECS finding (event.kind "alert"); with group_wait 0 a
  new group's notification is written to the outbox and handed to its receiver before it
  returns (the send itself runs in the receiver's task).
- `tick()` does everything that time triggers; `run()` calls it every `tick_secs`. Tests call
  `tick()` after moving their clock and `await deliverer.drain()` to see what was sent.
- Operator actions (acknowledge, resolve, silences, maintenance windows) take effect at once
  and are persisted before they return.
- Nothing here sleeps to measure time: every time comes from `clock`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

from alerting.am_intake import IncomingAlert
from alerting.delivery import Deliverer, Receiver
from alerting.dispatch import Dispatcher, Group
from alerting.escalation import Escalator
from alerting.inhibit import Inhibitor, Topology
from alerting.labels import finding_labels, fingerprint
from alerting.lifecycle import RESOLVED_KEPT_SECS, AlertBook, refresh_state
from alerting.matchers import Matcher, matches_all, parse_matchers
from alerting.metrics import AlertingMetrics
from alerting.model import Alert
from alerting.oncall import Rotation
from alerting.routing import Route, build_route
from alerting.settings import AlertingSettings, TimeIntervalSpec
from alerting.silences import Silence, Silencer, new_silence_id
from alerting.state_store import OutboxEntry, StateStore
from alerting.timeintervals import IntervalSet

log = logging.getLogger(__name__)

REEVALUATE_SECS = 10.0     # how often muted/unmuted states shown by the API are refreshed
FORGET_EVERY_SECS = 300.0


class AlertingService:
    def __init__(self, settings: AlertingSettings, *, receivers: Mapping[str, Receiver],
                 state_dir: Path, registry, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.store = StateStore(Path(state_dir) / "alerts.db")
        self.root: Route = build_route(settings.route)
        self.intervals = IntervalSet(settings.time_intervals)
        self.silencer = Silencer()
        for name, window in settings.maintenance_windows.items():
            self.silencer.add(Silence(
                id=f"config:{name}", matchers=list(window.matchers), starts_at=0.0,
                ends_at=None, created_by="config", comment=window.comment,
                schedule=[spec.model_dump() for spec in window.schedule], source="config"))
        self.inhibitor = Inhibitor(settings.inhibit_rules)
        self.topology = Topology()
        self._symptoms: dict[str, set[str]] = {}     # root target -> active symptom fps
        self.book = AlertBook(resolve_after_secs=settings.resolve_after_secs,
                              max_finding_ids=settings.max_finding_ids,
                              on_fire=self._fired, on_resolve=self._resolved)
        self.dispatcher = Dispatcher(is_muted=self._muted, route_muted=self._route_muted,
                                     external_url=settings.external_url)
        self.escalator = Escalator(
            settings.escalation_policies,
            {name: Rotation(name, s) for name, s in settings.oncall_schedules.items()},
            external_url=settings.external_url)
        self.metrics = AlertingMetrics(registry, lambda: list(self.book.alerts.values()))
        self.deliverer = Deliverer(receivers, self.store, self.metrics, settings.delivery,
                                   clock)
        self.receivers = dict(receivers)
        self._last_reevaluation = 0.0
        self._last_forget = 0.0
        self._task: asyncio.Task | None = None
        self._receiver_tasks: list[asyncio.Task] = []

    # -- start / stop ----------------------------------------------------------------------
    def open(self) -> None:
        """Read the state back: silences, alerts, what was sent, escalations, the outbox."""
        now = self.clock()
        for silence in self.store.load_silences():
            self.silencer.add(silence)
        self.book.restore(self.store.load_alerts(since=now - RESOLVED_KEPT_SECS))
        self.dispatcher.log.update(self.store.load_group_log())
        for tracked in self.store.load_escalations():
            self.escalator.tracked[tracked.fingerprint] = tracked
        for alert in self.book.active():
            if alert.symptom_of:
                self._symptoms.setdefault(alert.symptom_of, set()).add(alert.fingerprint)
        for alert in list(self.book.active()):
            self._route(alert, now)
        pending = self.deliverer.load()
        if pending:
            log.info("alerting: %d notification(s) in the outbox will be sent again", pending)

    async def start(self) -> None:
        self.open()
        self.deliverer.kick()
        self._task = asyncio.create_task(self._loop(), name="alerting")
        # Rate-limited receivers send their digests from a loop of their own.
        for name, receiver in self.receivers.items():
            if hasattr(receiver, "run"):
                self._receiver_tasks.append(
                    asyncio.create_task(receiver.run(), name=f"receiver-{name}"))

    async def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("alerting tick failed; continuing")
            await asyncio.sleep(self.settings.tick_secs)

    async def close(self) -> None:
        tasks = [task for task in (self._task, *self._receiver_tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.deliverer.close()
        for name, receiver in self.receivers.items():
            closer = getattr(receiver, "aclose", None)
            if closer is None:
                continue
            try:   # sends a pending digest once, ignoring the rate limit
                await closer()
            except Exception:
                log.exception("closing receiver %s failed", name)
        self.store.save_alerts(self.book.take_changed())
        self.store.close()

    # -- intake ----------------------------------------------------------------------------
    async def hook(self, events: list[dict]) -> None:
        """Pipeline hook: takes the findings (event.kind "alert") of a stored batch."""
        for event in events:
            if event.get("event.kind") == "alert":
                self.handle_finding(event)

    def handle_finding(self, finding: Mapping[str, object]) -> Alert | None:
        now = self.clock()
        if finding.get("shouwang.fault.state") == "recovered":
            return self._recovered(finding, now)
        alert, is_new = self.book.observe_finding(finding, now)
        self.metrics.findings.labels("new" if is_new else "deduplicated").inc()
        self._after_observe(alert, now)
        return alert

    def _recovered(self, finding: Mapping[str, object], now: float) -> Alert | None:
        """A detector says the fault behind an alert is over: resolve it now (a recovery
        for an alert we do not hold, or one already resolved, changes nothing)."""
        alert = self.book.alerts.get(fingerprint(finding_labels(finding)))
        if alert is None or alert.ends_at is not None:
            return None
        alert, _ = self.book.observe(dict(alert.labels), dict(alert.annotations), now,
                                     ends_at=now, fp=alert.fingerprint)
        self.metrics.findings.labels("recovered").inc()
        self._after_observe(alert, now)
        return alert

    def handle_incoming(self, incoming: Iterable[IncomingAlert]) -> list[Alert]:
        """Alerts from an Alertmanager webhook (alerting/am_intake.py)."""
        now = self.clock()
        alerts = []
        for item in incoming:
            alert, is_new = self.book.observe(
                item.labels, item.annotations, now, starts_at=item.starts_at,
                ends_at=item.ends_at, generator_url=item.generator_url)
            self.metrics.findings.labels("new" if is_new else "deduplicated").inc()
            self._after_observe(alert, now)
            alerts.append(alert)
        return alerts

    def _after_observe(self, alert: Alert, now: float) -> None:
        if alert.symptom_of and alert.ends_at is None:
            self._symptoms.setdefault(alert.symptom_of, set()).add(alert.fingerprint)
        if alert.ends_at is not None:
            return
        self._evaluate(alert, now)
        created = self._route(alert, now)
        immediate = [group for group in created if group.route.group_wait_secs <= 0]
        if immediate:
            self._emit(self._flush(immediate, now), now)

    def _route(self, alert: Alert, now: float) -> list[Group]:
        if self.dispatcher.contains(alert.fingerprint):
            return []
        return self.dispatcher.add(alert, self.root.match(alert.labels), now)

    # -- time ------------------------------------------------------------------------------
    def tick(self) -> int:
        """Resolve expired alerts, flush due groups, escalate; returns notifications made."""
        now = self.clock()
        self.book.expire(now)
        if now - self._last_reevaluation >= REEVALUATE_SECS:
            self._last_reevaluation = now
            for alert in self.book.active():
                self._evaluate(alert, now)
        notifications = self._flush(self.dispatcher.due(now), now)
        escalations, tracked = self.escalator.due(self.book.alerts, now, self._escalation_muted)
        notifications += [(n, now, None) for n in escalations]
        count = self._emit(notifications, now, tracked)
        if now - self._last_forget >= FORGET_EVERY_SECS:
            self._last_forget = now
            self.book.forget_resolved(now)
        self.store.save_alerts(self.book.take_changed())
        self.deliverer.kick()
        return count

    def _flush(self, groups: list[Group], now: float) -> list[tuple]:
        made = []
        for group in groups:
            previous = self.dispatcher.log.get((group.key, group.route.receiver))
            notification = self.dispatcher.flush(group, now)
            if notification is None:
                continue
            since = previous.sent_at if previous else float("-inf")
            changed = [a.updated_at for a in notification.alerts if a.updated_at > since]
            made.append((notification, max(changed) if changed else now, group))
        return made

    def _emit(self, made: list[tuple], now: float, tracked=()) -> int:
        if not made and not tracked:
            return 0
        entries, group_log, started = [], [], list(tracked)
        for notification, origin_at, group in made:
            entries.append(OutboxEntry(notification, origin_at, 0, now))
            if group is None:
                continue
            group_log.append((group.key, notification.receiver,
                              self.dispatcher.log[(group.key, notification.receiver)]))
            policy = group.route.escalation_policy
            if policy is not None:
                for alert in notification.alerts:
                    if alert.ends_at is None:
                        live = self.book.alerts.get(alert.fingerprint)
                        begun = self.escalator.start(live, policy, now) if live else None
                        if begun is not None:
                            started.append(begun)
        # Alert rows first: after a crash the outbox never names an alert we do not have.
        self.store.save_alerts(self.book.take_changed())
        self.store.add_notifications(entries, group_log, started)
        self.deliverer.enqueue(entries)
        return len(entries)

    # -- muting ----------------------------------------------------------------------------
    def _evaluate(self, alert: Alert, now: float) -> None:
        """Refresh silenced_by / inhibited_by (incl. topology) / symptoms and the state."""
        silenced = self.silencer.muted_by(alert.labels, now) if alert.ends_at is None else []
        inhibited = self.inhibitor.inhibited_by(alert) if alert.ends_at is None else []
        if self.settings.topology_inhibition and alert.symptom_of and alert.ends_at is None:
            root = self.topology.root_of(alert, self.book.alerts)
            if root is not None:
                inhibited.append(root.fingerprint)
        symptoms: list[str] = []
        if self.settings.topology_inhibition and not alert.symptom_of:
            targets = {alert.fingerprint} | {alert.labels[k] for k in
                                            ("component", "root_cause", "instance")
                                            if k in alert.labels}
            for target in targets:
                for fp in self._symptoms.get(target, ()):
                    symptom = self.book.alerts.get(fp)
                    if symptom is not None and symptom.ends_at is None:
                        symptoms.append(fp)
            symptoms = sorted(set(symptoms))
        before = (alert.silenced_by, alert.inhibited_by, alert.symptoms, alert.state)
        alert.silenced_by, alert.inhibited_by = silenced, inhibited
        if symptoms != alert.symptoms:
            alert.symptoms = symptoms
            names = [self._describe(self.book.alerts[fp]) for fp in symptoms]
            if names:
                alert.annotations = {**alert.annotations, "symptoms": "; ".join(names)}
            else:
                alert.annotations = {k: v for k, v in alert.annotations.items()
                                     if k != "symptoms"}
        refresh_state(alert)
        if (alert.silenced_by, alert.inhibited_by, alert.symptoms, alert.state) != before:
            self.book.mark_changed(alert.fingerprint)

    @staticmethod
    def _describe(alert: Alert) -> str:
        where = alert.labels.get("component") or alert.labels.get("instance") or \
            alert.labels.get("host") or alert.fingerprint
        return f"{alert.labels.get('alertname', '?')}@{where}"

    def _muted(self, alert: Alert, now: float) -> bool:
        self._evaluate(alert, now)
        return bool(alert.silenced_by or alert.inhibited_by or alert.acknowledged_by)

    def _escalation_muted(self, alert: Alert, now: float) -> bool:
        self._evaluate(alert, now)
        return bool(alert.silenced_by or alert.inhibited_by)

    def _route_muted(self, route: Route, now: float) -> bool:
        if any(self.intervals.active(name, now) for name in route.mute_time_intervals):
            return True
        return bool(route.active_time_intervals) and not any(
            self.intervals.active(name, now) for name in route.active_time_intervals)

    def _fired(self, alert: Alert) -> None:
        self.inhibitor.source_firing(alert)
        self.topology.add(alert)

    def _resolved(self, alert: Alert) -> None:
        self.inhibitor.source_resolved(alert)
        self.topology.remove(alert)
        if alert.symptom_of:
            members = self._symptoms.get(alert.symptom_of)
            if members is not None:
                members.discard(alert.fingerprint)
                if not members:
                    del self._symptoms[alert.symptom_of]
        if self.escalator.stop(alert.fingerprint):
            self.store.drop_escalations([alert.fingerprint])

    # -- operators (the API) ---------------------------------------------------------------
    def list_alerts(self, *, states: set[str] | None = None, severities: set[str] | None = None,
                    matchers: tuple[Matcher, ...] = (), limit: int = 1000) -> list[Alert]:
        found = []
        for alert in self.book.alerts.values():
            if states and alert.state.value not in states:
                continue
            if severities and alert.severity not in severities:
                continue
            if matchers and not matches_all(matchers, alert.labels):
                continue
            found.append(alert)
        found.sort(key=lambda a: (a.starts_at, a.fingerprint), reverse=True)
        return found[:limit]

    def get(self, fp: str) -> Alert | None:
        return self.book.alerts.get(fp)

    def acknowledge(self, fp: str, by: str) -> Alert | None:
        alert = self.book.acknowledge(fp, by, self.clock())
        if alert is not None and self.escalator.stop(fp):
            self.store.drop_escalations([fp])
        self.store.save_alerts(self.book.take_changed())
        return alert

    def resolve(self, fp: str, by: str) -> Alert | None:
        alert = self.book.resolve(fp, self.clock())
        if alert is not None and alert.ends_at is not None:
            alert.annotations = {**alert.annotations, "resolved_by": by}
        self.store.save_alerts(self.book.take_changed())
        return alert

    def add_silence(self, *, matchers: list[str], starts_at: float | None, ends_at: float | None,
                    created_by: str, comment: str = "",
                    schedule: list[TimeIntervalSpec] | None = None) -> Silence:
        """A silence (schedule None) or a maintenance window (a weekly schedule). Raises
        ValueError for bad matchers or times."""
        now = self.clock()
        parse_matchers(matchers)
        starts = now if starts_at is None else starts_at
        if ends_at is not None and ends_at <= starts:
            raise ValueError("ends_at must be after starts_at")
        if ends_at is None and not schedule:
            raise ValueError("a silence needs ends_at (only maintenance windows may be open)")
        silence = Silence(id=new_silence_id(f"{created_by}{now}{matchers}"),
                          matchers=list(matchers), starts_at=starts, ends_at=ends_at,
                          created_by=created_by, comment=comment, created_at=now,
                          schedule=[spec.model_dump() for spec in schedule or []])
        self.silencer.add(silence)
        self.store.save_silence(silence)
        self._reevaluate_all(now)
        return silence

    def expire_silence(self, silence_id: str) -> Silence | None:
        silence = self.silencer.get(silence_id)
        if silence is None or silence.source == "config":
            return silence
        now = self.clock()
        if silence.ends_at is None or silence.ends_at > now:
            silence.ends_at = now
            self.store.save_silence(silence)
            self._reevaluate_all(now)
        return silence

    def _reevaluate_all(self, now: float) -> None:
        for alert in self.book.active():
            self._evaluate(alert, now)
        self.store.save_alerts(self.book.take_changed())

    def on_call(self, schedule: str) -> dict | None:
        rotation = self.escalator.rotations.get(schedule)
        if rotation is None:
            return None
        now = self.clock()
        member = rotation.on_call(now)
        return {"schedule": schedule, "name": member.name, "receiver": member.receiver,
                "until": rotation.next_handover(now)}
