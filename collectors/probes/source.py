"""The `probes` source: runs every target on its own schedule, exports and emits each result.

Contract:
- Each target runs every `interval_secs` at a stable offset of its own (schedule.py); at most
  `max_concurrency` probes run at once (a semaphore), and each is cut off at `timeout_secs`.
- A failing target is a measured result (probe_success 0 and a reason), never an error of the
  source. A prober that raises is a bug: it is counted as an error of stage `probe` and reported
  as a failed probe, and the schedule goes on.
- Metrics, on the application registry, are blackbox_exporter's (probe_success,
  probe_duration_seconds, probe_http_*, probe_ssl_earliest_cert_expiry, ...) labelled target,
  module, the target's labels, and ip_protocol when it is forced (ip4/ip6) so that the two probes
  of a dual-stack target are two series.
- One event per run: event.kind=metric, event.dataset=shouwang.probe, event.outcome,
  event.duration (ns), error.message, url.full or destination.*, labels.*, shouwang.system and
  service.name (from the `system` label). Queued with emit_nowait: telemetry.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from core.components import BuildContext, ComponentSpec
from core.events import format_ts, new_event
from collectors.probes.dns import probe_dns
from collectors.probes.export import Family, shared_results
from collectors.probes.http import probe_http
from collectors.probes.icmp import probe_icmp
from collectors.probes.result import ProbeResult
from collectors.probes.schedule import run_periodically
from collectors.probes.settings import ProbesSettings, ProbeTarget
from collectors.probes.tcp import probe_tcp
from collectors.probes.tls import client_context

PROBERS = {"http": probe_http, "tcp": probe_tcp, "dns": probe_dns, "icmp": probe_icmp}
RESULTS_KEY = "collectors.probes.results"
FAMILIES = {
    "probe_success": Family("Displays whether or not the probe was a success"),
    "probe_duration_seconds": Family("Returns how long the probe took to complete in seconds"),
    "probe_ip_protocol": Family("Specifies whether probe ip protocol is IP4 or IP6"),
    "probe_dns_lookup_time_seconds": Family("Returns the time taken for probe dns lookup in "
                                            "seconds"),
    "probe_failed_due_to_regex": Family("Indicates if probe failed due to regex"),
    "probe_http_status_code": Family("Response HTTP status code"),
    "probe_http_duration_seconds": Family("Duration of http request by phase, summed over all "
                                          "redirects", ("phase",)),
    "probe_http_redirects": Family("The number of redirects"),
    "probe_http_ssl": Family("Indicates if SSL was used for the final redirect"),
    "probe_http_content_length": Family("Length of http content response"),
    "probe_http_uncompressed_body_length": Family("Length of uncompressed response body"),
    "probe_tls_version_info": Family("Returns the TLS version used or NaN when unknown",
                                     ("version",)),
    "probe_ssl_earliest_cert_expiry": Family("Returns last SSL chain expiry in unixtime"),
    "probe_dns_duration_seconds": Family("Duration of DNS request by phase", ("phase",)),
    "probe_dns_answer_rrs": Family("Returns number of entries in the answer resource record "
                                   "list"),
    "probe_dns_authority_rrs": Family("Returns number of entries in the authority resource "
                                      "record list"),
    "probe_dns_additional_rrs": Family("Returns number of entries in the additional resource "
                                       "record list"),
    "probe_dns_query_succeeded": Family("Displays whether or not the query was executed "
                                        "successfully"),
    "probe_icmp_duration_seconds": Family("Duration of icmp request by phase", ("phase",)),
    "probe_icmp_reply_hop_limit": Family("Replied packet hop limit (TTL for ipv4)"),
}


def target_labels(target: ProbeTarget) -> dict[str, str]:
    labels = {"target": target.target, "module": target.module, **target.labels}
    if target.ip_protocol != "auto":
        labels["ip_protocol"] = target.ip_protocol
    return labels


class ProbesSource:
    """Probes every configured target until cancelled."""

    def __init__(self, component_id: str, settings: ProbesSettings, ctx: BuildContext):
        self.id = component_id
        self.settings = settings
        self.hostname = ctx.hostname
        self.clock = ctx.clock
        self.metrics = ctx.metrics
        self.results = shared_results(ctx, RESULTS_KEY, FAMILIES, ("target", "module"))
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._tls_contexts: dict = {}

    def describe(self) -> list[str]:
        return [f"probe {t.module} {t.target}" for t in self.settings.targets]

    def tls_context(self, ca_file: Path | None, *, verify: bool):
        """A cached client context: loading the CA bundle costs milliseconds per context."""
        key = (ca_file, verify)
        context = self._tls_contexts.get(key)
        if context is None:
            context = self._tls_contexts[key] = client_context(ca_file, verify)
        return context

    async def run(self, emitter) -> None:
        async with asyncio.TaskGroup() as group:
            for target in self.settings.targets:
                interval = target.interval_secs or self.settings.interval_secs
                group.create_task(run_periodically(
                    f"{self.id}/{target.key()}", interval,
                    lambda target=target: self.probe(target, emitter)))

    async def probe(self, target: ProbeTarget, emitter=None) -> ProbeResult:
        """Probe `target` once, export and emit the result; never raises but cancellation."""
        timeout = target.timeout_secs or self.settings.timeout_secs
        async with self._semaphore:
            wall_start = self.clock()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    result = await PROBERS[target.module](target, self)
            except TimeoutError:
                result = ProbeResult().fail(f"timed out after {timeout:g}s")
            except Exception as exc:  # a prober bug must not stop the schedule
                self.metrics.errors.labels(self.id, "probe").inc()
                result = ProbeResult().fail(f"prober error: {type(exc).__name__}: {exc}")
            duration = time.perf_counter() - started
        result.add("probe_success", 1 if result.success else 0)
        result.add("probe_duration_seconds", duration)
        labels = target_labels(target)
        self.results.update(f"{self.id}/{target.key()}", labels, result.samples)
        if emitter is not None:
            emitter.emit_nowait([self.event(target, result, wall_start, duration)])
        return result

    def event(self, target: ProbeTarget, result: ProbeResult, wall_start: float,
              duration: float) -> dict:
        event = new_event("shouwang.probe", kind="metric", timestamp=format_ts(wall_start))
        event["event.outcome"] = "success" if result.success else "failure"
        event["event.duration"] = int(duration * 1e9)
        event["observer.hostname"] = self.hostname
        event["shouwang.probe.module"] = target.module
        event["shouwang.probe.target"] = target.target
        event["shouwang.probe.ip_protocol"] = target.ip_protocol
        for name, value in target.labels.items():
            event[f"labels.{name}"] = value
        system = target.labels.get("system")
        if system:
            event["shouwang.system"] = system
            event["service.name"] = system
        if result.reason:
            event["error.message"] = result.reason
        event.update(result.fields)
        return event


def build(component_id: str, settings: ProbesSettings, ctx: BuildContext) -> ProbesSource:
    return ProbesSource(component_id, settings, ctx)


SPEC = ComponentSpec(type="probes", settings=ProbesSettings, build=build,
                     description="blackbox probes (http, tcp, dns, icmp) of monitored systems")
