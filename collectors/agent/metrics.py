"""The agent's own metrics, on the agent's registry (served on `agent.metrics_listen`).

- shouwang_agent_spool_bytes / _batches / _max_bytes     what waits for a server
- shouwang_agent_spool_evicted_batches_total / _events_total   lost to a full spool
- shouwang_agent_shipped_batches_total{server} / _events_total{server}   acknowledged (2xx)
- shouwang_agent_send_failures_total{server,reason}     connect, timeout, http_<status>, ...
- shouwang_agent_server_up{server}                       1 while the last attempt succeeded
- shouwang_agent_ship_seconds{server}                    one batch: seal, POST, answer
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SHIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.spool_bytes = Gauge("shouwang_agent_spool_bytes",
                                 "Bytes of batches waiting in the agent's spool",
                                 registry=registry)
        self.spool_batches = Gauge("shouwang_agent_spool_batches",
                                   "Batches waiting in the agent's spool", registry=registry)
        self.spool_max_bytes = Gauge("shouwang_agent_spool_max_bytes",
                                     "Spool size past which the oldest batches are evicted",
                                     registry=registry)
        self.evicted_batches = Counter("shouwang_agent_spool_evicted_batches",
                                       "Batches evicted from a full spool (never shipped)",
                                       registry=registry)
        self.evicted_events = Counter("shouwang_agent_spool_evicted_events",
                                      "Events evicted from a full spool (never shipped)",
                                      registry=registry)
        self.shipped_batches = Counter("shouwang_agent_shipped_batches",
                                       "Batches a server acknowledged", ["server"],
                                       registry=registry)
        self.shipped_events = Counter("shouwang_agent_shipped_events",
                                      "Events in batches a server acknowledged", ["server"],
                                      registry=registry)
        self.send_failures = Counter("shouwang_agent_send_failures",
                                     "Attempts to ship a batch that got no 2xx, by reason",
                                     ["server", "reason"], registry=registry)
        self.server_up = Gauge("shouwang_agent_server_up",
                               "1 while the last attempt to this server succeeded", ["server"],
                               registry=registry)
        self.ship_seconds = Histogram("shouwang_agent_ship_seconds",
                                      "Time to ship one batch (seal, POST, answer)", ["server"],
                                      buckets=SHIP_BUCKETS, registry=registry)
