"""`error_burst` rules: at least `threshold` error log events per key within `window_secs`
(nginx/apache error logs, syslog severity err and worse). The counting is the `threshold`
rule type's (detectors/threshold.py); only the finding is a fault finding."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.faults.base import FaultDetector, FaultRuleBase
from detectors.rules import RuleType
from detectors.threshold import ThresholdDetector


class ErrorBurstRule(FaultRuleBase):
    type: Literal["error_burst"]
    threshold: int = Field(ge=1, le=100_000, description="error events per key and window")


class ErrorBurstDetector(FaultDetector, ThresholdDetector):
    """ThresholdDetector.observe counts; FaultDetector.fire builds the fault finding."""

    fault_type = "error_burst"
    category = ("host",)


RULE_TYPE = RuleType("error_burst", ErrorBurstRule, ErrorBurstDetector,
                     "a burst of error log events per key within a window")
