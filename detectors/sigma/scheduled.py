"""Sigma rules as scheduled queries inside Elasticsearch (`detection.sigma_scheduled`), for
deployments whose events live in a cluster: the search runs where the data is, and any number
of stateless servers can ingest while one of them schedules.

    scheduled = ScheduledSigma(settings.detection.sigma_scheduled, settings.detection.sigma_dirs,
                               client_factory=lambda: build_client(settings.store),
                               index="logs-*-default",
                               deliver=monitor.deliver_findings, registry=registry,
                               state_path=data_dir / "sigma-scheduled.json")
    await scheduled.run_forever()

What runs: every single-event rule the loader (loader.py) finds active, converted by pySigma's
Elasticsearch backend (elastic.py, query DSL target: the rule's condition with its
event.dataset filter). Correlation rules stay in the in-process engine: Lucene cannot express
them, and ES|QL's tumbling buckets would count differently from our sliding windows. They and
rules the backend cannot convert are listed in `plan.skipped` and logged at start.

Each run, per rule: search [start, now) where start is the previous run's end minus
`lookback_secs` (events indexed late are still found), sorted by @timestamp, at most
`max_hits` hits. Hits already reported (by their _id, which is event.id) are left out, so
overlapping runs never report a hit twice; the rest become one finding per subject
(source.address, else host) with the alert shape of in-process Sigma findings (detector.py):
rule.*, threat.*, event.severity, evidence count, first/last seen and sample event ids. A run
pages with search_after until it holds `max_hits` new hits; when more match, the next run
starts at the last one instead of skipping the rest (counted as truncated), so nothing is
silently lost (Elastic's max_signals problem).

State (each rule's next start and the hit ids still inside the look-back) is written to
`state_path` after every run, so a restart resumes where it stopped without repeating
findings. A failing query never stops the others or the loop: it is logged (once per rule
until its error changes) and counted by reason (unreachable, busy, rejected, failed); an
unreachable cluster ends the run early and the rules keep their start for the next run.
The rule files are re-planned when they change.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.durable import write_atomic
from core.events import event_epoch, format_ts
from detectors.findings import Evidence, build_finding
from detectors.settings import SigmaScheduledSettings
from detectors.sigma.detector import (SUBJECT_DETAILS, SUBJECT_FIELD, SigmaRuleView,
                                      finish_finding, subject_of)

log = logging.getLogger(__name__)

ENGINE_FIELD = "shouwang.sigma.engine"
STATE_VERSION = 1


@dataclass
class ScheduledQuery:
    view: SigmaRuleView   # what findings are built from (the loader's compiled rule)
    query: dict           # a query DSL clause: the rule's condition, datasets included


@dataclass
class SchedulePlan:
    queries: list[ScheduledQuery] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (rule title, reason)
    signature: tuple = ()


def plan_queries(sigma_dirs: Iterable[str | Path], *, index: str) -> SchedulePlan:
    """The scheduled query of every active single-event rule under `sigma_dirs`."""
    from detectors.sigma.elastic import convert_rules
    from detectors.live import rule_files_signature
    from detectors.sigma.loader import SIGMA_RULE_TYPE, load_sigma_rules

    sigma_dirs = list(sigma_dirs)
    loaded = load_sigma_rules(sigma_dirs)
    singles = {item.rule.id: item.rule for item in loaded.active
               if item.kind is SIGMA_RULE_TYPE}
    plan = SchedulePlan(signature=rule_files_signature(sigma_dirs))
    for item in loaded.active:
        if item.kind is not SIGMA_RULE_TYPE:
            plan.skipped.append((item.rule.name, "correlation: runs in-process"))
    conversion = convert_rules(sigma_dirs, target="dsl", index=index)
    converted = set()
    for item in conversion.converted:
        view = singles.get(item.rule_id)
        if view is not None:
            plan.queries.append(ScheduledQuery(view, item.query["query"]))
            converted.add(item.rule_id)
    reasons = dict(conversion.skipped)
    for rule_id, view in singles.items():
        if rule_id not in converted:
            plan.skipped.append((view.name, reasons.get(view.name, "not converted")))
    return plan


def search_body(query: dict, start: float, end: float, max_hits: int) -> dict:
    """Keyword arguments of a _search for one rule over [start, end), oldest first."""
    return {
        "query": {"bool": {
            "filter": [query, {"range": {"@timestamp": {"gte": format_ts(start),
                                                        "lt": format_ts(end)}}}],
            # findings are events too (dataset shouwang.detect); never match our own alerts
            "must_not": [{"term": {"event.kind": "alert"}}]}},
        "sort": [{"@timestamp": {"order": "asc"}}, {"event.id": {"order": "asc"}}],
        "size": max_hits,
        "track_total_hits": False,     # paging needs no count; counting costs
    }


def findings_from_hits(view: SigmaRuleView, events: list[dict], created: str) -> list[dict]:
    """One finding per subject for `events` (new hits of one run, oldest first), shaped as
    SigmaDetector's findings."""
    by_subject: dict[str, list[dict]] = {}
    for event in events:
        by_subject.setdefault(subject_of(event), []).append(event)
    findings = []
    for subject, matched in by_subject.items():
        last = matched[-1]
        evidence = Evidence(len(matched), event_epoch(matched[0]), event_epoch(last),
                            [event.get("event.id") for event in matched], last)
        extra = {SUBJECT_FIELD: subject}
        for field_name in ("url.original", "url.path"):
            if field_name in last:
                extra[field_name] = last[field_name]
        finding = build_finding(view, [SUBJECT_FIELD], (subject,), evidence, created=created,
                                extra=extra)
        for field_name in SUBJECT_DETAILS:
            value = last.get(field_name)
            if value is not None and field_name not in finding:
                finding[field_name] = value
        finding[ENGINE_FIELD] = "elasticsearch"
        findings.append(finish_finding(finding, view))
    return findings


@dataclass
class _Outcome:
    """One rule's run, applied to the state once its findings are delivered."""

    rule_id: str
    next_start: float
    reported: dict[str, float]
    findings: list[dict]


class ScheduledMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.queries = Counter("shouwang_sigma_scheduled_queries", "Scheduled Sigma queries "
                               "run, by outcome", ["outcome"], registry=registry)
        self.errors = Counter("shouwang_sigma_scheduled_errors", "Scheduled Sigma queries that "
                              "failed, by reason (unreachable, busy, rejected, failed)",
                              ["reason"], registry=registry)
        self.hits = Counter("shouwang_sigma_scheduled_hits", "New (not yet reported) events "
                            "matched by scheduled Sigma queries", registry=registry)
        self.findings = Counter("shouwang_sigma_scheduled_findings", "Findings raised by "
                                "scheduled Sigma queries", registry=registry)
        self.truncated = Counter("shouwang_sigma_scheduled_truncated", "Queries that matched "
                                 "more than max_hits (the next run continues after the last "
                                 "hit)", registry=registry)
        self.duration = Histogram("shouwang_sigma_scheduled_run_seconds", "Duration of one run "
                                  "of every scheduled Sigma query", registry=registry,
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.rules = Gauge("shouwang_sigma_scheduled_rules", "Sigma rules by scheduling state",
                           ["state"], registry=registry)
        self.last_run = Gauge("shouwang_sigma_scheduled_last_run_timestamp_seconds", "End of "
                              "the last completed run", registry=registry)


def _error_reason(exc: BaseException) -> str:
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout
    from elasticsearch import ApiError

    if isinstance(exc, (TransportConnectionError, ConnectionTimeout, OSError)):
        return "unreachable"
    if isinstance(exc, ApiError):
        if exc.status_code in (429, 500, 502, 503, 504):
            return "busy"
        if exc.status_code == 400:
            return "rejected"      # a query the cluster refuses: the rule's fault or ours
    return "failed"


class ScheduledSigma:
    """Runs the plan every `interval_secs` (see the module docstring for the contract)."""

    def __init__(self, settings: SigmaScheduledSettings, sigma_dirs: Iterable[str | Path], *,
                 client_factory: Callable[[], Any], index: str,
                 deliver: Callable[[list[dict]], Awaitable[None]],
                 registry: CollectorRegistry, state_path: Path | None = None,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.sigma_dirs = list(sigma_dirs)
        self.client_factory = client_factory
        self.client = None     # made on first use, inside the event loop that uses it
        self.index = index
        self.deliver = deliver
        self.metrics = ScheduledMetrics(registry)
        self.state_path = state_path
        self.clock = clock
        self.next_start: dict[str, float] = {}         # rule id -> start of its next window
        self.reported: dict[str, dict[str, float]] = {}  # rule id -> {hit id: its time}
        self._last_error: dict[str, str] = {}
        self._load_state()
        self.plan = self._plan()

    # -- plan -------------------------------------------------------------------------------
    def _plan(self) -> SchedulePlan:
        plan = plan_queries(self.sigma_dirs, index=self.index)
        self.metrics.rules.labels("scheduled").set(len(plan.queries))
        self.metrics.rules.labels("skipped").set(len(plan.skipped))
        log.info("sigma scheduled: %d rules run as Elasticsearch queries every %gs, %d stay "
                 "in-process or unconverted", len(plan.queries), self.settings.interval_secs,
                 len(plan.skipped))
        for title, reason in plan.skipped:
            log.info("sigma scheduled: not scheduled: %s: %s", title, reason)
        return plan

    def _replan_if_changed(self) -> None:
        from detectors.live import rule_files_signature

        signature = rule_files_signature(self.sigma_dirs)
        if signature == self.plan.signature:
            return
        try:
            self.plan = self._plan()
        except Exception:
            # a rule file being written, or broken: keep running the previous plan, and say
            # so once (the next change of the files tries again)
            log.exception("sigma scheduled: rules not re-planned, the previous ones keep running")
            self.plan.signature = signature

    # -- state ------------------------------------------------------------------------------
    def _load_state(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        try:
            state = orjson.loads(self.state_path.read_bytes())
            if state.get("version") == STATE_VERSION:
                self.next_start = {k: float(v) for k, v in state["next_start"].items()}
                self.reported = {k: dict(v) for k, v in state["reported"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # a lost state costs one look-back of possibly repeated findings, not a start
            log.warning("sigma scheduled: state %s unreadable (%s); starting afresh",
                        self.state_path, exc)

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        data = orjson.dumps({"version": STATE_VERSION, "next_start": self.next_start,
                             "reported": self.reported})
        try:
            write_atomic(self.state_path, data, sync=False)
        except OSError as exc:
            log.warning("sigma scheduled: state not saved to %s: %s", self.state_path, exc)

    # -- running ----------------------------------------------------------------------------
    async def run_once(self) -> list[dict]:
        """One run of every scheduled query; returns (and delivers) the new findings. A
        rule's window and reported hits move on only once its findings are delivered (at
        least once: a failed delivery repeats them next run, with the same event.id)."""
        started = time.perf_counter()
        now = self.clock()
        self._replan_if_changed()
        findings: list[dict] = []
        outcomes: list[_Outcome] = []
        for scheduled in self.plan.queries:
            try:
                outcome = await self._run_query(scheduled, now)
            except Exception as exc:
                reason = _error_reason(exc)
                self._count_error(scheduled.view, reason, exc)
                if reason == "unreachable":
                    break    # the rest would wait for the same timeout; next run retries
                continue
            self._last_error.pop(scheduled.view.id, None)
            outcomes.append(outcome)
            findings += outcome.findings
        if findings:
            await self.deliver(findings)
            self.metrics.findings.inc(len(findings))
        for outcome in outcomes:
            self.next_start[outcome.rule_id] = outcome.next_start
            self.reported[outcome.rule_id] = outcome.reported
        self._save_state()
        self.metrics.last_run.set(now)
        self.metrics.duration.observe(time.perf_counter() - started)
        return findings

    async def _run_query(self, scheduled: ScheduledQuery, now: float) -> "_Outcome":
        """Pages through [start, now) with search_after until `max_hits` new hits are in hand
        or the window is exhausted; hits already reported only cost page slots."""
        rule_id = scheduled.view.id
        interval, lookback = self.settings.interval_secs, self.settings.lookback_secs
        start = self.next_start.get(rule_id, now - interval - lookback)
        body = search_body(scheduled.query, start, now, self.settings.max_hits)
        reported = dict(self.reported.get(rule_id, {}))
        new_events: list[dict] = []
        next_start = now - lookback
        while True:
            if self.client is None:
                self.client = self.client_factory()
            response = await self.client.search(index=self.index, ignore_unavailable=True,
                                                allow_no_indices=True, **body)
            self.metrics.queries.labels("ok").inc()
            hits = response["hits"]["hits"]
            for hit in hits:
                if hit["_id"] in reported:
                    continue
                event = hit["_source"]
                reported[hit["_id"]] = event_epoch(event)
                new_events.append(event)
            if len(hits) < body["size"]:
                break                                   # the window is exhausted
            if len(new_events) >= self.settings.max_hits:
                # more may match: the next run continues from here instead of skipping them
                self.metrics.truncated.inc()
                next_start = min(next_start, event_epoch(new_events[-1]))
                break
            body = {**body, "search_after": hits[-1]["sort"]}
        # ids older than every future window can go: no run searches there again
        reported = {hit_id: ts for hit_id, ts in reported.items() if ts >= next_start}
        found = []
        if new_events:
            self.metrics.hits.inc(len(new_events))
            found = findings_from_hits(scheduled.view, new_events, format_ts(self.clock()))
        return _Outcome(rule_id, next_start, reported, found)

    def _count_error(self, view: SigmaRuleView, reason: str, exc: BaseException) -> None:
        self.metrics.queries.labels("error").inc()
        self.metrics.errors.labels(reason).inc()
        message = f"{type(exc).__name__}: {exc}"
        if self._last_error.get(view.id) != message:
            # once per rule until its error changes: a cluster down for an hour is one line
            log.error("sigma scheduled: query of rule %s (%s, %s) failed (%s): %s", view.id,
                      view.name, view.file, reason, message)
            self._last_error[view.id] = message

    async def run_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.run_once()
            except Exception:     # never let one bad run end the schedule
                log.exception("sigma scheduled: run failed")
                self.metrics.errors.labels("failed").inc()
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.settings.interval_secs - elapsed))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
