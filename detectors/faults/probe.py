"""`probe_failures` rules: a target failed `failures` of its last `of_last` probe results.

One failed probe is noise (a lost packet, a GC pause); N of M is the usual way to page on a
blackbox probe without flapping. Results older than `window_secs` are forgotten, so failures a
day apart do not add up. While the target keeps failing, the finding is repeated every
`window_secs` (alerting keeps the alert firing); once a result succeeds and fewer than
`failures` of the last results failed, a recovery finding resolves the alert.

State per target: the last `of_last` results (time, failed, event id): bounded by the rule.
"""
from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field, model_validator

from detectors.conditions import FieldTest, compile_conditions
from detectors.faults.base import FaultDetector, FaultRuleBase
from detectors.findings import Evidence
from detectors.rules import RuleType


class ProbeFailuresRule(FaultRuleBase):
    type: Literal["probe_failures"]
    failures: int = Field(ge=1, le=1000, description="N: failed results that fire")
    of_last: int = Field(ge=1, le=1000, description="M: among this many latest results")
    failure: dict[str, FieldTest] = Field(default_factory=lambda: {"event.outcome": FieldTest(
        equals="failure")}, description="what makes a result a failure (all must hold)")

    @model_validator(mode="after")
    def _n_of_m(self):
        if self.failures > self.of_last:
            raise ValueError("failures must not exceed of_last")
        return self


class ProbeFailuresDetector(FaultDetector):
    fault_type = "probe_failures"
    category = ("network",)

    def __init__(self, rule: ProbeFailuresRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.failures = rule.failures
        self.of_last = rule.of_last
        self.failed = compile_conditions(rule.failure, {})

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        results = self.state.get(key, lambda: deque(maxlen=self.of_last))
        results.append((ts, self.failed(event), event.get("event.id")))
        horizon = ts - self.window_secs
        while results and results[0][0] <= horizon:
            results.popleft()
        failed = [item for item in results if item[1]]
        if not results[-1][1] and len(failed) < self.failures:
            return self.recover(key, ts)        # None unless it was firing
        if len(failed) < self.failures or not results[-1][1] or self.quiet(key, ts):
            return None
        evidence = Evidence(len(failed), failed[0][0], ts, [i for _, _, i in failed], event)
        extra = {"shouwang.fault.failures": len(failed), "shouwang.fault.results": len(results),
                 "shouwang.fault.last_error": event.get("error.message", "")}
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("probe_failures", ProbeFailuresRule, ProbeFailuresDetector,
                     "N failed results among the last M of a probed target")
