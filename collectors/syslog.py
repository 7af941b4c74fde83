"""`type: syslog` — receive syslog over UDP and TCP (RFC 3164 and RFC 5424 payloads).

listen: ["udp://127.0.0.1:5514", "tcp://127.0.0.1:5514", "udp://[::1]:5514"]; loopback by
default. TCP carries newline-terminated or octet-counted messages (RFC 6587, detected per
message, collectors.framing). Every message becomes an event (parsed by the syslog parser, or
kept raw and counted as unparsed) with log.source.address = the sender's "ip:port".

Delivery: UDP is telemetry-like and lossy by nature: messages are batched and handed over
without waiting (emit_nowait); what the full queue refuses is dropped and counted. TCP waits
for the queue (backpressure reaches the sender through TCP flow control).
Bad input never crashes: oversized messages are truncated, invalid UTF-8 is replaced, both are
counted (errors{stage}) and reported as pipeline_error events; connections beyond
max_connections are closed at once and counted.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from collectors.framing import Framer
from collectors.parsers.base import LineNormalizer, ParserOptions, load_timezone
from collectors.parsers.catalog import build_parser
from core.components import BuildContext, ComponentSpec
from core.pipeline import Emitter
from core.settings import StrictModel

log = logging.getLogger(__name__)

UDP_FLUSH_SECS = 0.05
UDP_BATCH_MAX = 1_000
TCP_READ_BYTES = 65_536
ERROR_EVENT_INTERVAL_SECS = 10.0


def parse_listen(value: str) -> tuple[str, str, int]:
    """'udp://[::1]:5514' -> ('udp', '::1', 5514)."""
    parts = urlsplit(value)
    if parts.scheme not in ("udp", "tcp"):
        raise ValueError(f"{value!r}: the scheme must be udp:// or tcp://")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"{value!r}: expected udp://HOST:PORT or tcp://HOST:PORT "
                         "(IPv6 in brackets: udp://[::1]:5514)")
    return parts.scheme, parts.hostname, port


class SyslogSettings(StrictModel):
    type: Literal["syslog"]
    listen: list[str] = Field(["udp://127.0.0.1:5514", "tcp://127.0.0.1:5514"], min_length=1,
                              description="udp://HOST:PORT and tcp://HOST:PORT addresses")
    format: str = Field("syslog", description="parser for message payloads")
    timezone: str | None = Field(None, description="zone of RFC 3164 stamps (default local)")
    max_message_bytes: int = Field(65_536, ge=64, le=16_777_216,
                                   description="longer messages are truncated")
    max_connections: int = Field(256, ge=1, description="TCP connections at once")
    idle_timeout_secs: float = Field(3600, gt=0, description="a silent TCP connection is "
                                     "closed after this long")

    @field_validator("listen")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_listen(value)
        return values


def _peer(address) -> str:
    if not address:
        return ""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SyslogSource:
    def __init__(self, component_id: str, settings: SyslogSettings, ctx: BuildContext):
        self.id = component_id
        self.settings = settings
        options = ParserOptions(timezone=load_timezone(settings.timezone), clock=ctx.clock)
        # host.name stays the sender's (log.syslog.hostname); we are the observer.
        self._normalizer = LineNormalizer(build_parser(settings.format, ctx.parsers, options),
                                          ctx.clock, context={"observer.hostname": ctx.hostname})
        self.addresses: list[str] = []  # what is bound, once running ("udp://127.0.0.1:5514")
        self.ready = asyncio.Event()
        self._connections = 0
        self._udp_pending: list[dict] = []
        self._last_error_event: dict[str, float] = {}

    def describe(self) -> list[str]:
        return [f"syslog {address}" for address in (self.addresses or self.settings.listen)]

    async def run(self, emitter: Emitter) -> None:
        self._emitter = emitter
        loop = asyncio.get_running_loop()
        closers = []
        try:
            for value in self.settings.listen:
                scheme, host, port = parse_listen(value)
                if scheme == "udp":
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _UdpProtocol(self), local_addr=(host, port))
                    closers.append(transport.close)
                    bound = transport.get_extra_info("sockname")
                else:
                    server = await asyncio.start_server(self._serve, host, port,
                                                        limit=TCP_READ_BYTES)
                    closers.append(server.close)
                    bound = server.sockets[0].getsockname()
                self.addresses.append(f"{scheme}://{_peer(bound)}")
            self.ready.set()
            while True:
                await asyncio.sleep(UDP_FLUSH_SECS)
                self._flush_udp()
        finally:
            for close in closers:
                close()
            self._flush_udp()

    # -- messages ---------------------------------------------------------------------------
    def _event(self, raw: bytes, truncated: bool, peer: str, transport: str) -> list[dict]:
        """The event of one message, preceded by pipeline_error events for what was wrong."""
        events = []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            events += self._error("decode", f"message from {peer} with invalid UTF-8 "
                                  "(replaced with U+FFFD)")
        text = text.rstrip("\r\n\x00")
        if truncated:
            events += self._error("oversized", f"message from {peer} longer than "
                                  f"{self.settings.max_message_bytes} bytes (truncated)")
        before = self._normalizer.unparsed
        event = self._normalizer.event(text)
        if self._normalizer.unparsed != before:
            self._emitter.metrics.unparsed.labels(self.id).inc()
        event["log.source.address"] = peer
        event["shouwang.syslog.transport"] = transport
        events.append(event)
        return events

    def _error(self, stage: str, reason: str) -> list[dict]:
        """Count every error; emit at most one event per stage every few seconds (a flood
        of bad datagrams must not become a flood of error events)."""
        now = time.monotonic()
        event = self._emitter.error(stage, reason)
        if now - self._last_error_event.get(stage, -1e9) < ERROR_EVENT_INTERVAL_SECS:
            return []
        self._last_error_event[stage] = now
        return [event]

    # -- UDP --------------------------------------------------------------------------------
    def datagram(self, data: bytes, address) -> None:
        truncated = len(data) > self.settings.max_message_bytes
        if truncated:
            data = data[:self.settings.max_message_bytes]
        self._udp_pending.extend(self._event(data, truncated, _peer(address), "udp"))
        if len(self._udp_pending) >= UDP_BATCH_MAX:
            self._flush_udp()

    def _flush_udp(self) -> None:
        if self._udp_pending:
            events, self._udp_pending = self._udp_pending, []
            self._emitter.emit_nowait(events)

    # -- TCP --------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        if self._connections >= self.settings.max_connections:
            events = self._error("max_connections", f"refused {peer}: "
                                 f"{self.settings.max_connections} connections already open")
            writer.close()
            if events:
                await self._emitter.emit(events)
            return
        self._connections += 1
        framer = Framer(self.settings.max_message_bytes)
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(TCP_READ_BYTES),
                                                  self.settings.idle_timeout_secs)
                except (TimeoutError, ConnectionError):
                    break
                messages = framer.feed(data) if data else framer.close()
                events = []
                for raw, truncated in messages:
                    events += self._event(raw, truncated, peer, "tcp")
                if events:
                    await self._emitter.emit(events)
                if not data:
                    break
        finally:
            self._connections -= 1
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, source: SyslogSource):
        self.source = source

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self.source.datagram(data, addr)
        except Exception:  # one bad datagram must not stop the listener
            log.exception("syslog %s: datagram from %s failed", self.source.id, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("syslog %s: UDP error %s", self.source.id, exc)


def build(component_id: str, settings: SyslogSettings, ctx: BuildContext) -> SyslogSource:
    if settings.format not in ctx.parsers and settings.format != "auto":
        from core.errors import ConfigError

        raise ConfigError(ctx.parsers.unknown_message(settings.format), key="format")
    return SyslogSource(component_id, settings, ctx)


SPEC = ComponentSpec(
    type="syslog", settings=SyslogSettings, build=build,
    description="receive syslog (RFC 3164/5424) over UDP and TCP (newline or octet-counted)")
