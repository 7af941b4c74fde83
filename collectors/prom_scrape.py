"""prom_scrape source: pull the /metrics of monitored systems into metric events.

Each target is scraped every `interval_secs` (its own or the source's) with a bounded timeout and
a bounded body. The exposition is parsed with prometheus_client's parsers (OpenMetrics when the
server answers `application/openmetrics-text`, the Prometheus text format otherwise). Samples
sharing one label set become one event, as Metricbeat's prometheus module shapes them:

    event.kind=metric, event.dataset=prometheus.metrics, service.address=<url>,
    prometheus.labels.<name>=<value>, prometheus.metrics.<sample name>=<value>, labels.<target label>

Events are telemetry: they are queued with `emit_nowait` (dropped and counted under overload).
A failed scrape (refused, timeout, HTTP error, malformed exposition, too large) never stops the
source: it sets `up` to 0, counts an error of stage `scrape` or `parse`, and emits a
pipeline_error event naming the target. Exported on the application registry, one sample per
target: `up`, `scrape_duration_seconds`, `scrape_samples_scraped` (labels target + the target's).
"""
from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Literal

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from pydantic import Field

from core.components import BuildContext, ComponentSpec
from core.events import format_ts, new_event
from core.secrets import SecretRef
from core.settings import StrictModel
from collectors.probes.export import Family, TargetLabels, shared_results
from collectors.probes.schedule import run_periodically

ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.9,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
FAMILIES = {
    "up": Family("1 if the last scrape of the target succeeded, else 0"),
    "scrape_duration_seconds": Family("Duration of the last scrape of the target"),
    "scrape_samples_scraped": Family("Samples the last scrape of the target returned"),
}
RESULTS_KEY = "collectors.prom_scrape.results"


class ScrapeTarget(StrictModel):
    url: str = Field(pattern=r"^https?://", description="the /metrics URL of the system")
    labels: TargetLabels = Field(default_factory=dict,
                                 description="labels for its events and metrics (system, tier...)")
    interval_secs: float | None = Field(None, gt=0, description="defaults to the source's")
    timeout_secs: float | None = Field(None, gt=0, description="defaults to the source's")
    bearer_token: SecretRef | None = Field(None, description="sent as Authorization: Bearer")


class PromScrapeSettings(StrictModel):
    type: Literal["prom_scrape"]
    targets: list[ScrapeTarget] = Field(min_length=1)
    interval_secs: float = Field(30.0, gt=0)
    timeout_secs: float = Field(10.0, gt=0)
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="larger bodies are an error")
    max_samples: int = Field(100_000, ge=1, description="more samples than this are an error")
    ca_file: Path | None = Field(None, description="CA bundle for https targets (else system CAs)")


class ScrapeError(Exception):
    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


def parse_exposition(text: str, content_type: str, max_samples: int) -> list[tuple[str, dict, float]]:
    """(sample name, labels, value) of every finite sample; raises ScrapeError('parse')."""
    parser = parse_om if content_type.startswith("application/openmetrics-text") else parse_text
    samples: list[tuple[str, dict, float]] = []
    try:
        for family in parser(text):
            for sample in family.samples:
                # NaN and infinities have no JSON form; the metric itself stays in Prometheus.
                if not math.isfinite(sample.value):
                    continue
                samples.append((sample.name, sample.labels, float(sample.value)))
                if len(samples) > max_samples:
                    raise ScrapeError("parse", f"more than {max_samples} samples")
    except ScrapeError:
        raise
    except Exception as exc:  # the parsers raise ValueError, IndexError, ... on garbage
        raise ScrapeError("parse", f"malformed exposition: {type(exc).__name__}: {exc}") from None
    return samples


def samples_to_events(samples: list[tuple[str, dict, float]], target: ScrapeTarget,
                      hostname: str, timestamp: str) -> list[dict]:
    """One event per distinct label set, holding every sample with that label set."""
    groups: dict[tuple, dict] = {}
    for name, labels, value in samples:
        key = tuple(sorted(labels.items()))
        event = groups.get(key)
        if event is None:
            event = new_event("prometheus.metrics", kind="metric", timestamp=timestamp)
            event["service.address"] = target.url
            event["host.name"] = hostname
            for label, label_value in key:
                event[f"prometheus.labels.{label}"] = label_value
            for label, label_value in target.labels.items():
                event[f"labels.{label}"] = label_value
            groups[key] = event
        event[f"prometheus.metrics.{name}"] = value
    return list(groups.values())


class PromScrapeSource:
    """Scrapes every target on its own schedule until cancelled."""

    def __init__(self, component_id: str, settings: PromScrapeSettings, ctx: BuildContext,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.id = component_id
        self.settings = settings
        self.hostname = ctx.hostname
        self.clock = ctx.clock
        self.results = shared_results(ctx, RESULTS_KEY, FAMILIES, ("target",))
        self._transport = transport

    def describe(self) -> list[str]:
        return [f"prom_scrape {target.url}" for target in self.settings.targets]

    def _client(self) -> httpx.AsyncClient:
        verify = str(self.settings.ca_file) if self.settings.ca_file else True
        limits = httpx.Limits(max_connections=max(10, len(self.settings.targets)))
        return httpx.AsyncClient(verify=verify, transport=self._transport, limits=limits,
                                 follow_redirects=False, trust_env=False)

    async def run(self, emitter) -> None:
        async with self._client() as client:
            async with asyncio.TaskGroup() as group:
                for target in self.settings.targets:
                    interval = target.interval_secs or self.settings.interval_secs
                    group.create_task(run_periodically(
                        f"{self.id}/{target.url}", interval,
                        lambda target=target: self.scrape(client, target, emitter)))

    async def fetch(self, client: httpx.AsyncClient, target: ScrapeTarget) -> tuple[str, str]:
        headers = {"Accept": ACCEPT}
        if target.bearer_token is not None:
            headers["Authorization"] = f"Bearer {target.bearer_token.reveal()}"
        timeout = target.timeout_secs or self.settings.timeout_secs
        try:
            async with asyncio.timeout(timeout):
                async with client.stream("GET", target.url, headers=headers,
                                         timeout=timeout) as response:
                    if response.status_code != 200:
                        raise ScrapeError("scrape", f"HTTP status {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.settings.max_bytes:
                            raise ScrapeError("scrape",
                                              f"body larger than {self.settings.max_bytes} bytes")
                    content_type = response.headers.get("content-type", "text/plain")
                    return body.decode("utf-8", errors="replace"), content_type
        except ScrapeError:
            raise
        except TimeoutError:
            raise ScrapeError("scrape", f"timed out after {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ScrapeError("scrape", f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # e.g. a secret file that cannot be read
            raise ScrapeError("scrape", f"{type(exc).__name__}: {exc}") from None

    async def scrape(self, client: httpx.AsyncClient, target: ScrapeTarget, emitter) -> None:
        """Scrape one target once; never raises (except cancellation)."""
        started = time.perf_counter()
        timestamp = format_ts(self.clock())
        labels = {"target": target.url, **target.labels}
        try:
            text, content_type = await self.fetch(client, target)
            samples = await asyncio.to_thread(parse_exposition, text, content_type,
                                              self.settings.max_samples)
        except ScrapeError as exc:
            duration = time.perf_counter() - started
            self.results.update(f"{self.id}/{target.url}", labels, [
                ("up", 0.0, ()), ("scrape_duration_seconds", duration, ()),
                ("scrape_samples_scraped", 0.0, ())])
            emitter.emit_nowait([emitter.error(exc.stage, exc.reason,
                                               service__address=target.url)])
            return
        duration = time.perf_counter() - started
        self.results.update(f"{self.id}/{target.url}", labels, [
            ("up", 1.0, ()), ("scrape_duration_seconds", duration, ()),
            ("scrape_samples_scraped", float(len(samples)), ())])
        events = samples_to_events(samples, target, self.hostname, timestamp)
        if events:
            emitter.emit_nowait(events)


def build(component_id: str, settings: PromScrapeSettings, ctx: BuildContext) -> PromScrapeSource:
    return PromScrapeSource(component_id, settings, ctx)


SPEC = ComponentSpec(type="prom_scrape", settings=PromScrapeSettings, build=build,
                     description="pull /metrics of monitored systems into metric events")
