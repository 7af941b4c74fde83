"""Root-cause localization: a post-processor on the findings stream that relates fault findings
through the topology, so alerting shows one incident instead of twenty pages.

    localizer = RootCauseLocalizer(load_topology(), window_secs=900)
    deliver = localizer.wrap(store_and_alert)          # engine.hook(deliver), and the tick
    findings = localizer.annotate(engine.advance(now)) # or annotate by hand

For every fault finding (one with `shouwang.fault.type`) whose component the topology knows
(Topology.resolve):
- shouwang.component / shouwang.system are filled in when the finding lacked them;
- shouwang.root_cause is the most upstream failing component it depends on (itself when none
  of its dependencies is failing), shouwang.root_cause_system that component's system, and
  shouwang.root_cause_event_id the first finding seen on the root within the window;
- shouwang.symptom_of = the root's component id when the root is another component (alerting
  folds such alerts into the root's: alerting/inhibit.py Topology matches it against the root
  alert's component / root_cause labels).

"Failing" means: at least one fault finding on the component with @timestamp within
`window_secs` before the newest fault finding seen (event time). A candidate root is a failing
component among the finding's component and everything it depends on (transitively, through
components that are not failing themselves: a probe of a load balancer fails when the database
behind the app behind it is down) that has no failing dependency of its own. Among several,
the one that explains most failing components wins, then the earliest to fail, then the id:
the result depends only on the findings, never on dict order or timing.

All fault findings of one call are recorded before any is annotated, so a root and its symptoms
that arrive in the same batch are related whatever their order. A finding already delivered
is not amended when its root cause shows up later; its next repetition (fault rules repeat
while a fault lasts) carries it.

Bounded: at most `max_findings` recent fault findings are kept (oldest dropped first).
Findings that are not faults, or about components the topology does not know, pass untouched.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from core.events import parse_ts
from detectors.topology import Topology

DEFAULT_WINDOW_SECS = 900.0
DEFAULT_MAX_FINDINGS = 10_000


class RootCauseLocalizer:
    def __init__(self, topology: Topology, *, window_secs: float = DEFAULT_WINDOW_SECS,
                 max_findings: int = DEFAULT_MAX_FINDINGS,
                 is_fault: Callable[[dict], bool] | None = None):
        self.topology = topology
        self.window_secs = window_secs
        self._recent: deque = deque(maxlen=max_findings)   # (time, component, event id)
        self.newest = float("-inf")
        self.is_fault = is_fault or (lambda finding: "shouwang.fault.type" in finding)

    def _failing(self) -> dict[str, tuple[float, str | None]]:
        """component -> (first failure time, its finding id) within the window."""
        horizon = self.newest - self.window_secs
        recent = self._recent
        while recent and recent[0][0] < horizon:
            recent.popleft()
        failing: dict[str, tuple[float, str | None]] = {}
        for ts, component, event_id in recent:
            if ts >= horizon and (component not in failing or ts < failing[component][0]):
                failing[component] = (ts, event_id)
        return failing

    def root_of(self, component: str, failing: dict) -> str:
        upstream = self.topology.upstream
        candidates = [c for c in ({component} | upstream[component]) if c in failing
                      and not any(d in failing for d in upstream[c])]
        if not candidates:
            return component

        def rank(candidate: str):
            explained = sum(1 for other in failing
                            if other == candidate or candidate in upstream[other])
            return (-explained, failing[candidate][0], candidate)
        return min(candidates, key=rank)

    def annotate(self, findings: list[dict]) -> list[dict]:
        """Annotate the fault findings of `findings` in place (see module docstring)."""
        placed = []
        for finding in findings:
            if not self.is_fault(finding):
                continue
            component = self.topology.resolve(finding)
            if component is None:
                continue
            try:
                ts = parse_ts(finding["@timestamp"])
            except (KeyError, TypeError, ValueError):
                continue
            self.newest = max(self.newest, ts)
            self._recent.append((ts, component, finding.get("event.id")))
            placed.append((finding, component))
        if not placed:
            return findings
        failing = self._failing()
        for finding, component in placed:
            finding.setdefault("shouwang.component", component)
            finding.setdefault("shouwang.system", self.topology.system_of(component))
            root = self.root_of(component, failing) if component in failing else component
            finding["shouwang.root_cause"] = root
            finding["shouwang.root_cause_system"] = self.topology.system_of(root)
            first = failing.get(root)
            if first is not None and first[1]:
                finding["shouwang.root_cause_event_id"] = first[1]
            if root != component:
                finding["shouwang.symptom_of"] = root
            else:
                finding.pop("shouwang.symptom_of", None)
        return findings

    def wrap(self, deliver: Callable[[list[dict]], object]) -> Callable[[list[dict]], object]:
        """`deliver` with annotation in front (sync or async, as `deliver` is)."""
        def annotated(findings: list[dict]):
            return deliver(self.annotate(findings))
        return annotated

