"""The running monitor: store, sources, pipeline and API in one process (`shouwang run`).

Start order: store (opened and spooling if unreachable) -> pipeline batcher -> sources -> API.
Stop order is the reverse, and the pipeline drains what it holds into the store first; anything
not stored by then is re-read on the next start (file offsets advance only after storage).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.runtime import settle_heap

log = logging.getLogger(__name__)

RETENTION_INTERVAL_SECS = 3600.0
INGEST_SOURCE_ID = "api_ingest"


def _server(app, api_settings):
    """A uvicorn server that leaves signal handling to us: on SIGTERM the pipeline is drained
    into the store before the process ends."""
    import uvicorn

    from api.server import server_config

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server(server_config(app, api_settings))


class Monitor:
    def __init__(self, settings, registries, *, config_files: list[str] | None = None,
                 registry: CollectorRegistry | None = None, out=sys.stdout):
        self.settings = settings
        self.registries = registries
        self.config_files = config_files or []
        self.registry = registry or CollectorRegistry()
        self.metrics = PipelineMetrics(self.registry)
        self.out = out
        data_dir = Path(settings.node.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.context = BuildContext(
            data_dir=data_dir, registry=self.registry, metrics=self.metrics,
            parsers=registries.parsers, hostname=settings.node.name,
        )
        store_spec = registries.stores.get(settings.store.type)
        self.store = store_spec.build("store", settings.store, self.context)
        self.sources = [
            registries.sources.get(source_settings.type).build(source_id, source_settings,
                                                                  self.context)
            for source_id, source_settings in settings.sources.items()
        ]
        pipeline_settings = settings.pipeline
        self.pipeline = Pipeline(
            sources=self.sources, sinks=[self.store], metrics=self.metrics,
            queue_max_events=pipeline_settings.queue_max_events,
            batch_max_events=pipeline_settings.batch_max_events,
            batch_max_wait_secs=pipeline_settings.batch_max_wait_secs,
        )
        self._ingest_emitter = self.pipeline.emitter(INGEST_SOURCE_ID)
        self.alerting = None
        if settings.alerting is not None:
            from alerting.wiring import build_alerting

            self.alerting = build_alerting(settings.alerting, data_dir=data_dir,
                                           registry=self.registry)
            # Alerts that arrive as events (ingested from agents or other shippers).
            self.pipeline.add_hook(self.alerting.hook)
        self.engine = self._build_engine(settings.detection)
        self.root_cause = None
        if self.engine is not None:
            if settings.detection.topology_file is not None:
                from detectors.root_cause import RootCauseLocalizer
                from detectors.topology import load_topology

                self.root_cause = RootCauseLocalizer(
                    load_topology(settings.detection.topology_file))
            self.pipeline.add_hook(self.engine.hook(self.deliver_findings))
        from cli.app import build_scheduled_sigma

        self.scheduled_sigma = build_scheduled_sigma(settings, registry=self.registry,
                                                     data_dir=data_dir,
                                                     deliver=self.deliver_findings)
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()
        self.reload_requested = asyncio.Event()     # SIGHUP: reload the rule files
        self.server = None

    def _build_engine(self, detection):
        if not detection.enabled:
            return None
        from detectors.live import LiveRules

        self.rules = LiveRules(detection, self.registry)
        return self.rules.build_engine()

    async def deliver_findings(self, findings: list[dict]) -> None:
        """Findings are stored like events (kind "alert"). They are written straight to the
        store, not through the pipeline queue: the detector hook runs inside the batch loop,
        and waiting there for room in the queue would deadlock."""
        if self.root_cause is not None:
            findings = self.root_cause.annotate(findings)
        await self.store.write(findings)
        if self.alerting is not None:
            for finding in findings:
                self.alerting.handle_finding(finding)

    async def _detection_tick(self, tick_secs: float) -> None:
        """Let buffered events out of their windows when the stream goes quiet."""
        while True:
            await asyncio.sleep(tick_secs)
            try:
                findings = self.engine.advance(time.time())
                if findings:
                    await self.deliver_findings(findings)
            except Exception:
                log.exception("detection tick failed")
                self.metrics.errors.labels("detectors", "tick").inc()

    # -- hooks the API calls ---------------------------------------------------------------
    async def ingest(self, events: list[dict]) -> None:
        """Queue events from the API and return once they are stored (at-least-once for
        agents: they drop a batch from their spool only after this returns)."""
        stored = asyncio.get_running_loop().create_future()

        def ack() -> None:
            if not stored.done():
                stored.set_result(None)

        await self._ingest_emitter.emit(events, ack=ack)
        await stored

    # -- lifecycle -------------------------------------------------------------------------
    def _api_app(self):
        from api.app import create_app

        from api.readiness import pipeline_readiness

        app = create_app(self.settings.api, store=self.store, registry=self.registry,
                         readiness=pipeline_readiness(self.pipeline), ingest=self.ingest)
        if self.settings.agents is not None:
            from api.agent_ingest import mount_agent_ingest

            mount_agent_ingest(app, self.settings.agents, ingest=self.ingest,
                               registry=self.registry,
                               ingest_timeout_secs=self.settings.api.ingest_timeout_secs)
        return app

    async def start(self) -> None:
        settle_heap()
        await self.store.open()
        if self.alerting is not None:
            await self.alerting.start()
        await self.pipeline.start()
        self.server = _server(self._api_app(), self.settings.api)
        self._server_task = asyncio.create_task(self.server.serve(), name="api")
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        if self.engine is not None:
            detection = self.settings.detection
            self._tasks.append(asyncio.create_task(
                self._detection_tick(detection.tick_secs), name="detection-tick"))
            self._tasks.append(asyncio.create_task(
                self.rules.watch(self.engine, self.reload_requested, detection.reload_poll_secs),
                name="rules-reload"))
        if self.scheduled_sigma is not None:
            self._tasks.append(asyncio.create_task(self.scheduled_sigma.run_forever(),
                                                   name="sigma-scheduled"))
        await self._wait_api_started()

    async def _wait_api_started(self) -> None:
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self._server_task.done():
                exc = self._server_task.exception()
                raise SystemExit(f"API could not start on {self.api_url}: {exc or 'port in use?'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"API did not start on {self.api_url} within 10 s")
            await asyncio.sleep(0.05)

    @property
    def api_url(self) -> str:
        host = self.settings.api.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.settings.api.port}"

    async def _retention_loop(self) -> None:
        while True:
            try:
                dropped = await self.store.apply_retention(time.time())
                if dropped:
                    log.info("retention dropped %d partition(s)", dropped)
            except Exception:
                log.exception("retention failed; will try again")
                self.metrics.errors.labels("store", "retention").inc()
            await asyncio.sleep(RETENTION_INTERVAL_SECS)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        await self.pipeline.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(self._server_task, *self._tasks, return_exceptions=True)
        if self.scheduled_sigma is not None:
            await self.scheduled_sigma.close()
        if self.alerting is not None:
            await self.alerting.close()
        await self.store.close()

    def banner(self) -> str:
        lines = [f"Shouwang monitor on {self.settings.node.name}",
                 f"  config:   {', '.join(self.config_files) or '(defaults)'}",
                 f"  store:    {self.settings.store.type} under {self.context.data_dir}/"]
        for source in self.sources:
            for what in source.describe():
                lines.append(f"  watching: [{source.id}] {what}")
        lines += [f"  API:      {self.api_url}/api/v1/events  (docs: {self.api_url}/docs)",
                  f"  health:   {self.api_url}/healthz   metrics: {self.api_url}/metrics"]
        return "\n".join(lines)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_requested.set)
        await self.start()
        print(self.banner(), file=self.out, flush=True)
        await self._stop.wait()
        print("stopping: storing what is queued...", file=self.out, flush=True)
        await self.stop()
        return 0
