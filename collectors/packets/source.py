"""The `packets` source: live capture on an interface, or pcap/pcapng files, -> flow, DNS,
HTTP and TLS events.

Threading: capture and decoding run in one worker thread (they block and are CPU-bound); the
thread hands events to the pipeline with `Emitter.emit` on the event loop and waits for it, so
pipeline backpressure reaches the thread. In live mode a stalled thread lets the kernel socket
buffer fill, and the kernel's drops are read (PACKET_STATISTICS) into
shouwang_packets_kernel_dropped_total and reported as pipeline_error events (stage capture).

Delivery: live packets are telemetry, counted when lost. Files are read once per run, from the
start (no offsets: a capture file is evidence, not a log being appended to). After the last
file the source idles until cancelled, as sources do; `files_done` is set then.
Flows still open when a live capture stops are handed to the pipeline without waiting
(`emit_nowait`, counted if the queue is full).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import threading
import time
from typing import Literal

from pydantic import Field, model_validator

from core.components import BuildContext, ComponentSpec
from core.errors import ConfigError
from core.settings import StrictModel
from collectors.packets.bpf import OfflineFilter, check_expression
from collectors.packets.capture import DEFAULT_RECEIVE_BUFFER_BYTES, LiveCapture
from collectors.packets.metrics import MetricsSync, PacketMetrics
from collectors.packets.offline import feed_file
from collectors.packets.processor import ErrorReporter, PacketProcessor

HAND_OFF_EVENTS = 1000
HAND_OFF_SECS = 0.2
RECEIVE_BATCH_FRAMES = 512
STOP_POLL_SECS = 0.5


class FlowSettings(StrictModel):
    max_flows: int = Field(100_000, ge=1, le=10_000_000, description="flows held at once; "
                           "when full the least recently seen is exported early (counted)")
    idle_timeout_secs: float = Field(60.0, gt=0, description="export a flow this long after "
                                     "its last packet (event time)")
    active_timeout_secs: float = Field(1800.0, gt=0, description="export long flows in parts "
                                       "of this length")
    tcp_close_linger_secs: float = Field(2.0, ge=0, le=300, description="after FIN/FIN or RST, "
                                         "wait this long for the last packets of a connection")
    community_id: bool = Field(True, description="add network.community_id")


class PacketsSettings(StrictModel):
    type: Literal["packets"]
    interface: str | None = Field(None, description="capture live on this interface (root or "
                                  "CAP_NET_RAW)")
    pcap_paths: list[str] = Field(default_factory=list, description="pcap/pcapng files (glob "
                                  "patterns allowed), read in order as one capture")
    bpf_filter: str | None = Field(None, description="tcpdump filter expression")
    snaplen: int = Field(65535, ge=64, le=262_144, description="bytes kept of each frame")
    promiscuous: bool = False
    receive_buffer_bytes: int = Field(DEFAULT_RECEIVE_BUFFER_BYTES, ge=65_536,
                                      description="kernel socket buffer for live capture")
    protocols: list[Literal["dns", "http", "tls"]] = Field(
        default_factory=lambda: ["dns", "http", "tls"],
        description="payloads to read besides flows")
    flows: FlowSettings = Field(default_factory=FlowSettings)

    @model_validator(mode="after")
    def _one_input(self):
        if bool(self.interface) == bool(self.pcap_paths):
            raise ValueError("set exactly one of interface and pcap_paths")
        return self


class PacketSource:
    """Live capture or capture files -> events (see the module docstring)."""

    def __init__(self, component_id: str, settings: PacketsSettings, metrics: PacketMetrics):
        self.id = component_id
        self.settings = settings
        self.metrics = MetricsSync(metrics, component_id)
        self.files_done = asyncio.Event()
        self.ready = asyncio.Event()  # set once the capture socket listens (or files open)
        self.processor: PacketProcessor | None = None

    def describe(self) -> list[str]:
        where = f" filter {self.settings.bpf_filter!r}" if self.settings.bpf_filter else ""
        if self.settings.interface:
            return [f"packets on {self.settings.interface}{where}"]
        return [f"pcap {path}{where}" for path in self.settings.pcap_paths]

    def _paths(self) -> list[str]:
        paths: list[str] = []
        for pattern in self.settings.pcap_paths:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            paths.extend(matches or [pattern])  # a missing file is reported when opened
        return paths

    async def run(self, emitter) -> None:
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        finished = loop.create_future()

        def work() -> None:
            try:
                if self.settings.interface:
                    self._capture(emitter, loop, stop)
                else:
                    self._read_files(emitter, loop, stop)
                loop.call_soon_threadsafe(_set_result, finished, None)
            except BaseException as exc:  # surfaces in run(): the pipeline records it
                loop.call_soon_threadsafe(_set_exception, finished, exc)

        thread = threading.Thread(target=work, name=f"packets-{self.id}", daemon=True)
        thread.start()
        try:
            await finished
            self.files_done.set()
            await asyncio.Event().wait()  # idle until cancelled, like every source
        finally:
            stop.set()
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 5)

    # --- worker thread ---------------------------------------------------------------------

    def _processor(self, out: list, report) -> PacketProcessor:
        flows = self.settings.flows
        return PacketProcessor(
            out=out, report=report, max_flows=flows.max_flows,
            idle_timeout_secs=flows.idle_timeout_secs,
            active_timeout_secs=flows.active_timeout_secs,
            tcp_close_linger_secs=flows.tcp_close_linger_secs,
            community_id=flows.community_id, protocols=tuple(self.settings.protocols),
            snaplen=self.settings.snaplen)

    def _reporter(self, emitter, out: list) -> ErrorReporter:
        errors = emitter.metrics.errors
        return ErrorReporter(emitter.error, lambda stage: errors.labels(self.id, stage).inc(), out)

    def _hand_off(self, emitter, loop, stop: threading.Event, out: list) -> bool:
        """Emit what `out` holds and wait until the pipeline took it; False when stopping."""
        if not out:
            return not stop.is_set()
        events = out[:]
        out.clear()
        future = asyncio.run_coroutine_threadsafe(emitter.emit(events), loop)
        while True:
            try:
                future.result(timeout=STOP_POLL_SECS)
                return not stop.is_set()
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    future.cancel()
                    return False

    def _read_files(self, emitter, loop, stop: threading.Event) -> None:
        out: list[dict] = []
        report = self._reporter(emitter, out)
        processor = self.processor = self._processor(out, report)
        loop.call_soon_threadsafe(self.ready.set)
        offline_filter = OfflineFilter(self.settings.bpf_filter) if self.settings.bpf_filter \
            else None
        for path in self._paths():
            for _ in feed_file(processor, path, report, offline_filter):
                self.metrics.sync(processor)
                if len(out) >= HAND_OFF_EVENTS and not self._hand_off(emitter, loop, stop, out):
                    return
            if not self._hand_off(emitter, loop, stop, out):
                return
        processor.flush()
        self.metrics.sync(processor)
        self._hand_off(emitter, loop, stop, out)

    def _capture(self, emitter, loop, stop: threading.Event) -> None:
        settings = self.settings
        out: list[dict] = []
        report = self._reporter(emitter, out)
        processor = self.processor = self._processor(out, report)
        capture = LiveCapture(settings.interface, bpf_filter=settings.bpf_filter,
                              snaplen=settings.snaplen, promiscuous=settings.promiscuous,
                              receive_buffer_bytes=settings.receive_buffer_bytes)
        loop.call_soon_threadsafe(self.ready.set)
        packet = processor.packet
        linktype = capture.linktype
        next_tick = time.monotonic() + HAND_OFF_SECS
        try:
            while not stop.is_set():
                for ts_ns, frame, length in capture.receive_many(RECEIVE_BATCH_FRAMES):
                    packet(ts_ns, linktype, frame, 0, len(frame), length)
                now = time.monotonic()
                if now >= next_tick or len(out) >= HAND_OFF_EVENTS:
                    next_tick = now + HAND_OFF_SECS
                    processor.advance(time.time_ns())  # a quiet link still times flows out
                    self._kernel_statistics(capture, report)
                    self.metrics.sync(processor)
                    if not self._hand_off(emitter, loop, stop, out):
                        break
        finally:
            self._kernel_statistics(capture, report)
            capture.close()
            processor.flush()
            self.metrics.sync(processor)
            if out:
                try:
                    loop.call_soon_threadsafe(emitter.emit_nowait, out[:])
                except RuntimeError:  # the loop is already closed: nothing left to take them
                    pass

    def _kernel_statistics(self, capture: LiveCapture, report) -> None:
        received, dropped = capture.statistics()
        self.metrics.kernel(received, dropped)
        if dropped:
            report("capture", f"kernel dropped {dropped} of {received} frames on "
                   f"{capture.interface} (socket buffer full)", shouwang__packets__dropped=dropped)


def _set_result(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def build(component_id: str, settings: PacketsSettings, ctx: BuildContext) -> PacketSource:
    if settings.bpf_filter:
        try:
            check_expression(settings.bpf_filter)
        except ValueError as exc:
            raise ConfigError(str(exc), key="bpf_filter") from None
    return PacketSource(component_id, settings, PacketMetrics.for_context(ctx))


SPEC = ComponentSpec(
    type="packets", settings=PacketsSettings, build=build,
    description="live AF_PACKET capture or pcap/pcapng files -> flow, DNS, HTTP and TLS events")
