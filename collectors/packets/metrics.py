"""Packet-source metrics on the application's registry, labelled by component id.

One `PacketMetrics` per registry, kept in `BuildContext.extras` so several packet sources share
the collectors (registering a metric name twice on one registry fails). The processor counts
in plain ints on its hot path; `sync` moves the deltas into these counters now and then.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

EXTRAS_KEY = "collectors.packets.metrics"


class PacketMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.packets = Counter(
            "shouwang_packets", "Frames a packet source processed, by outcome "
            "(decoded, not_ip, corrupt)", ["component", "outcome"], registry=registry)
        self.kernel_received = Counter(
            "shouwang_packets_kernel_received", "Frames the kernel handed to a capture socket",
            ["component"], registry=registry)
        self.kernel_dropped = Counter(
            "shouwang_packets_kernel_dropped", "Frames the kernel dropped because the capture "
            "socket's buffer was full (PACKET_STATISTICS)", ["component"], registry=registry)
        self.flows_exported = Counter(
            "shouwang_flows_exported", "Flow events exported, by reason (evicted: the flow "
            "table was full)", ["component", "reason"], registry=registry)
        self.flows_active = Gauge(
            "shouwang_flows_active", "Flows held in a packet source's flow table",
            ["component"], registry=registry)
        self.app_events = Counter(
            "shouwang_packets_app_events", "DNS, HTTP and TLS events read from payloads",
            ["component"], registry=registry)

    @classmethod
    def for_context(cls, ctx) -> "PacketMetrics":
        metrics = ctx.extras.get(EXTRAS_KEY)
        if metrics is None:
            metrics = ctx.extras[EXTRAS_KEY] = cls(ctx.registry)
        return metrics


class MetricsSync:
    """Moves a processor's plain counters into `PacketMetrics` (deltas since the last sync)."""

    def __init__(self, metrics: PacketMetrics, component: str):
        self.metrics = metrics
        self.component = component
        self._seen: dict[tuple, int] = {}

    def _add(self, counter, labels: tuple, value: int) -> None:
        key = (id(counter),) + labels
        delta = value - self._seen.get(key, 0)
        if delta > 0:
            counter.labels(*labels).inc(delta)
            self._seen[key] = value

    def sync(self, processor) -> None:
        c = self.component
        decoded = processor.packets - processor.not_ip - processor.corrupt
        self._add(self.metrics.packets, (c, "decoded"), decoded)
        self._add(self.metrics.packets, (c, "not_ip"), processor.not_ip)
        self._add(self.metrics.packets, (c, "corrupt"), processor.corrupt)
        self._add(self.metrics.app_events, (c,), processor.app_events)
        for reason, count in processor.exported.items():
            self._add(self.metrics.flows_exported, (c, reason), count)
        self.metrics.flows_active.labels(c).set(len(processor.table))

    def kernel(self, received: int, dropped: int) -> None:
        if received:
            self.metrics.kernel_received.labels(self.component).inc(received)
        if dropped:
            self.metrics.kernel_dropped.labels(self.component).inc(dropped)
