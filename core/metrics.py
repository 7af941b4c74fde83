"""Per-component pipeline metrics on an application-owned registry (never the global one).

Names follow Prometheus conventions; every component reports received, sent, dropped (with a
reason) and errors (with a stage), as Vector's component spec asks.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class PipelineMetrics:
    """The pipeline's counters, gauges and histograms, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.received = Counter(
            "shouwang_component_received_events", "Events a component received or produced",
            ["component"], registry=registry)
        self.sent = Counter(
            "shouwang_component_sent_events", "Events a component handed on (stored, for sinks)",
            ["component"], registry=registry)
        self.dropped = Counter(
            "shouwang_component_dropped_events", "Events a component dropped, by reason",
            ["component", "reason"], registry=registry)
        self.errors = Counter(
            "shouwang_component_errors", "Errors in a component, by stage",
            ["component", "stage"], registry=registry)
        self.unparsed = Counter(
            "shouwang_unparsed_lines", "Lines no parser recognized (kept as raw events)",
            ["component"], registry=registry)
        self.queue_depth = Gauge(
            "shouwang_pipeline_queue_events", "Events waiting in the pipeline queue",
            registry=registry)
        self.queue_capacity = Gauge(
            "shouwang_pipeline_queue_capacity_events", "Capacity of the pipeline queue in events",
            registry=registry)
        self.batch_latency = Histogram(
            "shouwang_batch_latency_seconds", "Time to write one batch to a sink",
            ["sink"], buckets=BATCH_LATENCY_BUCKETS, registry=registry)
        self.batch_size = Histogram(
            "shouwang_batch_events", "Events per batch written to the sinks",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000), registry=registry)
        self.source_up = Gauge(
            "shouwang_source_up", "1 while a source is running", ["component"],
            registry=registry)
