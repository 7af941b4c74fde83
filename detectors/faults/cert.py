"""`cert_expiry` rules: a probed TLS certificate expires within the days of a stage.

Stages map days left to a severity (shipped: 30 days medium, 7 days high, expired critical).
The most urgent stage reached gives the finding's severity; a key repeats its finding every
`window_secs` (a daily reminder) and at once when it enters a more urgent stage. Days are
counted from the probe result's @timestamp (event time), not from the wall clock.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.events import parse_ts
from core.settings import StrictModel
from detectors.faults.base import FaultDetector, FaultRuleBase, number
from detectors.findings import SEVERITY_SCORE, Evidence
from detectors.rules import RuleType, Severity

DAY_SECS = 86_400.0


class ExpiryStage(StrictModel):
    within_days: float = Field(ge=0, description="days left at or below which this applies")
    severity: Severity


def _default_stages() -> list[ExpiryStage]:
    return [ExpiryStage(within_days=30, severity="medium"),
            ExpiryStage(within_days=7, severity="high"),
            ExpiryStage(within_days=0, severity="critical")]


class CertExpiryRule(FaultRuleBase):
    type: Literal["cert_expiry"]
    field: str = Field("tls.server.not_after", description="RFC 3339 time or epoch seconds")
    stages: list[ExpiryStage] = Field(default_factory=_default_stages, min_length=1)


class CertExpiryDetector(FaultDetector):
    fault_type = "cert_expiry"
    category = ("network",)

    def __init__(self, rule: CertExpiryRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.field = rule.field
        # most urgent first: the fewest days left
        self.stages = sorted(rule.stages, key=lambda s: (s.within_days,
                                                         -SEVERITY_SCORE[s.severity]))
        self.widest = max(stage.within_days for stage in rule.stages)

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        value = event.get(self.field)
        expires = number(value)
        if expires is None and isinstance(value, str):
            try:
                expires = parse_ts(value)
            except ValueError:
                return None
        return None if expires is None else (key, expires)

    def observe(self, event: dict, ts: float, key: tuple, expires) -> dict | None:
        days_left = (expires - ts) / DAY_SECS
        if days_left > self.widest:
            return None
        stage = next(s for s in self.stages if days_left <= s.within_days)
        if self.quiet(key, ts, stage.severity):
            return None
        evidence = Evidence(1, ts, ts, [event.get("event.id")], event)
        extra = {"shouwang.fault.days_left": round(days_left, 1),
                 "shouwang.fault.stage_days": stage.within_days,
                 "tls.server.not_after": event.get(self.field)}
        return self.fire(key, ts, evidence, extra, stage.severity)


RULE_TYPE = RuleType("cert_expiry", CertExpiryRule, CertExpiryDetector,
                     "TLS certificate expiring within staged numbers of days")
