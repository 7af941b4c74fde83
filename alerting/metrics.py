"""Alerting metrics on the application's registry (never the global one).

    shouwang_alerts{state, severity}                     gauge, counted at scrape time
    shouwang_notifications_total{receiver, outcome}      sent | failed | timeout | gave_up |
                                                         duplicate (already in the log)
    shouwang_notification_latency_seconds{receiver}      finding received -> delivered
    shouwang_alerting_findings_total{outcome}            new | deduplicated | invalid
"""
from __future__ import annotations

from collections import Counter as Tally
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from alerting.model import Alert, AlertState, Severity

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _AlertGauge:
    def __init__(self, alerts: Callable[[], Iterable[Alert]]):
        self._alerts = alerts

    def describe(self):
        return [GaugeMetricFamily("shouwang_alerts", "Alerts by state and severity",
                                  labels=["state", "severity"])]

    def collect(self):
        family = GaugeMetricFamily("shouwang_alerts", "Alerts by state and severity",
                                   labels=["state", "severity"])
        tally = Tally((alert.state.value, alert.severity) for alert in self._alerts())
        for state in AlertState:
            for severity in Severity:
                family.add_metric([state.value, severity.value],
                                  tally.get((state.value, severity.value), 0))
        yield family


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry, alerts: Callable[[], Iterable[Alert]]):
        registry.register(_AlertGauge(alerts))
        self.notifications = Counter(
            "shouwang_notifications", "Notification send attempts by receiver and outcome",
            ["receiver", "outcome"], registry=registry)
        self.latency = Histogram(
            "shouwang_notification_latency_seconds",
            "From the finding that changed an alert to the notification delivered",
            ["receiver"], buckets=LATENCY_BUCKETS, registry=registry)
        self.findings = Counter(
            "shouwang_alerting_findings", "Findings taken by alerting, by outcome",
            ["outcome"], registry=registry)
