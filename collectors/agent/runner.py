"""The running agent (`shouwang agent`): sources -> pipeline -> spool -> shipper -> servers.

Start order: spool (what a previous run left is shipped first) -> shipper -> pipeline and
sources -> metrics listener. Stop: sources stop, the pipeline drains into the spool (local,
fast), the shipper is cancelled; a batch in flight stays spooled and is sent again next time.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from importlib import metadata
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from collectors.agent.heartbeat import HeartbeatSource
from collectors.agent.metrics import AgentMetrics
from collectors.agent.shipper import ServerLink, Shipper
from collectors.agent.sink import SpoolSink
from collectors.agent.spool import BatchSpool
from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.runtime import settle_heap

log = logging.getLogger(__name__)

SPOOL_DIR = "agent-spool"
CONNECT_TIMEOUT_SECS = 5.0


def agent_version() -> str:
    try:
        return metadata.version("shouwang")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_links(settings) -> list[ServerLink]:
    """A ServerLink per configured server; raises (naming the file) on unreadable keys."""
    from crypto.channel import ChannelSender
    from crypto.settings import load_signing_key, load_verify_key

    block = settings.agent
    identity = load_signing_key(block.identity_key, block.identity_passphrase)
    links = []
    for server in block.servers:
        sender = ChannelSender(identity, load_verify_key(server.public_key), block.id,
                               rekey_after_secs=block.rekey_after_secs)
        links.append(ServerLink(server.url, server.token.reveal(), sender))
    return links


class Agent:
    def __init__(self, settings, sources_registry, parsers_registry, *,
                 registry: CollectorRegistry | None = None, out=sys.stdout):
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.out = out
        self.metrics = AgentMetrics(self.registry)
        self.pipeline_metrics = PipelineMetrics(self.registry)
        data_dir = Path(settings.node.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.context = BuildContext(data_dir=data_dir, registry=self.registry,
                                    metrics=self.pipeline_metrics, parsers=parsers_registry,
                                    hostname=settings.node.name)
        self.sources = [sources_registry.get(source.type).build(source_id, source, self.context)
                        for source_id, source in settings.sources.items()]
        self.spool = BatchSpool(data_dir / SPOOL_DIR, settings.spool.max_bytes,
                                on_change=self._spool_changed)
        self.metrics.spool_max_bytes.set(settings.spool.max_bytes)
        self.links = load_links(settings)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(
            settings.agent.request_timeout_secs,
            connect=min(CONNECT_TIMEOUT_SECS, settings.agent.request_timeout_secs)))
        self.shipper = Shipper(self.spool, self.links, self.metrics, client=self.client,
                               retry_max_secs=settings.agent.retry_max_secs,
                               failback_secs=settings.agent.failback_secs,
                               max_in_flight=settings.agent.max_in_flight)
        self.heartbeat = HeartbeatSource(agent_id=settings.agent.id, version=agent_version(),
                                         hostname=settings.node.name,
                                         interval_secs=settings.agent.heartbeat_secs,
                                         stats=self._stats)
        self.sink = SpoolSink(self.spool, self.metrics, agent_id=settings.agent.id,
                              compression_level=settings.spool.compression_level,
                              on_append=self.shipper.notify)
        pipeline = settings.pipeline
        self.pipeline = Pipeline(sources=[*self.sources, self.heartbeat], sinks=[self.sink],
                                 metrics=self.pipeline_metrics,
                                 queue_max_events=pipeline.queue_max_events,
                                 batch_max_events=pipeline.batch_max_events,
                                 batch_max_wait_secs=pipeline.batch_max_wait_secs)
        self._stop = asyncio.Event()
        self._shipper_task: asyncio.Task | None = None
        self._metrics_server = None

    def _spool_changed(self, spool: BatchSpool) -> None:
        self.metrics.spool_bytes.set(spool.bytes)
        self.metrics.spool_batches.set(spool.batches)

    def _stats(self) -> dict:
        return {"spool_bytes": self.spool.bytes, "spool_batches": self.spool.batches,
                "events_shipped": self.shipper.events_shipped,
                "batches_shipped": self.shipper.batches_shipped,
                "server": self.shipper.current_server}

    async def start(self) -> None:
        settle_heap()
        await asyncio.to_thread(self.spool.open)
        if self.spool.batches:
            log.info("agent spool holds %d batch(es) (%d bytes) from before; shipping them "
                     "first", self.spool.batches, self.spool.bytes)
        self._shipper_task = asyncio.create_task(self.shipper.run(), name="agent-shipper")
        await self.pipeline.start()
        listen = self.settings.agent.metrics_listen
        if listen:
            from prometheus_client import start_http_server

            host, _, port = listen.rpartition(":")
            self._metrics_server, _ = start_http_server(int(port), host.strip("[]"),
                                                        registry=self.registry)

    async def stop(self) -> None:
        await self.pipeline.stop()
        if self._shipper_task is not None:
            self._shipper_task.cancel()
            await asyncio.gather(self._shipper_task, return_exceptions=True)
        await self.client.aclose()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()

    def banner(self) -> str:
        block = self.settings.agent
        lines = [f"Shouwang agent {block.id} on {self.settings.node.name}",
                 f"  spool:    {self.spool.directory} (max {self.spool.max_bytes} bytes)"]
        for link in self.links:
            lines.append(f"  server:   {link.url}")
        for source in [*self.sources, self.heartbeat]:
            for what in source.describe():
                lines.append(f"  watching: [{source.id}] {what}")
        if block.metrics_listen:
            lines.append(f"  metrics:  http://{block.metrics_listen}/metrics")
        return "\n".join(lines)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        print(self.banner(), file=self.out, flush=True)
        await self._stop.wait()
        print("stopping: spooling what is queued...", file=self.out, flush=True)
        started = time.monotonic()
        await self.stop()
        log.info("agent stopped in %.1f s; %d batch(es) stay spooled", time.monotonic() - started,
                 self.spool.batches)
        return 0
