"""`trend` rules: a gauge is predicted to reach `threshold` within `horizon_secs`, from a
least-squares line through its samples of the last `window_secs` (Prometheus' predict_linear;
node_exporter's "disk will fill in 4 hours" alert).

A prediction needs `min_points` samples spanning at least `min_span_secs`, and the line must
explain the samples (coefficient of determination R^2 >= `min_r_squared`): a single jump (a
backup copied in, a log rotated away) is a step, not a trend, and fits a line badly. Samples closer together than
window_secs / max_points replace the previous one, so at most `max_points` are kept per
series and they still cover the whole window.
"""
from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field

from detectors.faults.base import FaultDetector, FaultRuleBase
from detectors.findings import Evidence
from detectors.rules import RuleType


class TrendRule(FaultRuleBase):
    type: Literal["trend"]
    field: str = Field(description="the gauge, e.g. system.filesystem.available (bytes)")
    direction: Literal["falling", "rising"] = Field("falling", description="falling: fires "
                                                    "when predicted at or below threshold")
    threshold: float = Field(0, description="the value that means full (0 bytes available)")
    horizon_secs: float = Field(gt=0, le=30 * 86_400, description="how far ahead to predict")
    min_points: int = Field(5, ge=2)
    max_points: int = Field(120, ge=2, le=10_000)
    min_span_secs: float = Field(600, ge=0, description="samples must span this long")
    min_r_squared: float = Field(0.8, ge=0, le=1, description="how well the line must fit")


def fit(points) -> tuple[float, float, float]:
    """(value at the last point's time, slope per second, R^2) of the least-squares line."""
    origin = points[-1][0]
    count = len(points)
    mean_t = sum(t - origin for t, _, _ in points) / count
    mean_v = sum(v for _, v, _ in points) / count
    spread = sum((t - origin - mean_t) ** 2 for t, _, _ in points)
    total = sum((v - mean_v) ** 2 for _, v, _ in points)
    if spread == 0 or total == 0:
        return mean_v, 0.0, 0.0
    slope = sum((t - origin - mean_t) * (v - mean_v) for t, v, _ in points) / spread
    return mean_v - slope * mean_t, slope, slope * slope * spread / total


class TrendDetector(FaultDetector):
    fault_type = "trend"
    category = ("host",)

    def __init__(self, rule: TrendRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.field = rule.field
        self.spacing = self.window_secs / rule.max_points
        self.falling = rule.direction == "falling"

    def select(self, event: dict):
        return self.select_number(event, self.field)

    def observe(self, event: dict, ts: float, key: tuple, value) -> dict | None:
        rule = self.rule
        points = self.state.get(key, lambda: deque(maxlen=rule.max_points))
        if len(points) > 1 and points[-1][0] - points[-2][0] < self.spacing:
            points.pop()  # the newest sample stands in until the next one is far enough away
        points.append((ts, value, event.get("event.id")))
        horizon = ts - self.window_secs
        while points and points[0][0] < horizon:
            points.popleft()
        if len(points) < rule.min_points or ts - points[0][0] < rule.min_span_secs:
            return None
        now_value, slope, r_squared = fit(points)
        predicted = now_value + slope * rule.horizon_secs
        heading = slope < 0 if self.falling else slope > 0
        reached = predicted <= rule.threshold if self.falling else predicted >= rule.threshold
        if not heading or not reached or r_squared < rule.min_r_squared or self.quiet(key, ts):
            return None
        secs_left = max(0.0, (rule.threshold - now_value) / slope)
        evidence = Evidence(len(points), points[0][0], ts, [i for _, _, i in points][-5:],
                            event)
        extra = {"shouwang.fault.value": value, "shouwang.fault.slope_per_sec": slope,
                 "shouwang.fault.predicted_value": round(predicted, 3),
                 "shouwang.fault.r_squared": round(r_squared, 3),
                 "shouwang.fault.secs_left": round(secs_left),
                 "shouwang.fault.hours_left": round(secs_left / 3600, 1),
                 "shouwang.fault.horizon_secs": rule.horizon_secs}
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("trend", TrendRule, TrendDetector,
                     "linear prediction: a gauge reaches a threshold within a horizon")
