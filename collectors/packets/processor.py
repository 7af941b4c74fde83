"""Packets in, ECS events out: decode, account to flows, read DNS/HTTP/TLS from payloads.

`PacketProcessor.packet(...)` is called once per captured frame (from pcapfile records or live
capture) and appends finished events to `processor.out`; the caller drains that list. It is
single-threaded state: one thread feeds it. Corrupt frames are counted and reported through an
`ErrorReporter`, which turns them into pipeline_error events at a bounded rate (a flood of bad
packets must not become a flood of error events; every one is still counted).
"""
from __future__ import annotations

import struct
import time
from typing import Callable

from core.events import format_ts, new_event
from collectors.packets.decode import PROTO_TCP, PROTO_UDP, DecodeError, Decoder
from collectors.packets.dns import parse_dns
from collectors.packets.flows import TRANSPORT_NAMES, FlowTable, community_id, flow_event, ip_text
from collectors.packets.http import METHOD_FIRST_BYTES, parse_http_request
from collectors.packets.tls import TLS_HANDSHAKE, parse_client_hello

DNS_PORTS = frozenset({53, 5353, 5355})
APP_PROTOCOLS = ("dns", "http", "tls")
ERROR_EVENTS_PER_WINDOW = 50
ERROR_WINDOW_SECS = 60.0
# Timestamps must be representable (RFC 3339 stops at year 9999); later ones are damage.
MAX_TS_NS = 253_402_300_799 * 1_000_000_000


class ErrorReporter:
    """Counts every error; turns at most `max_events` per `window_secs` into events in `out`.

    `make_event(stage, reason, **fields)` builds (and counts) a pipeline_error event, as
    `Emitter.error` does; `count(stage)` counts one whose event is suppressed. The next event
    after a suppression says how many were suppressed (shouwang.suppressed_errors)."""

    def __init__(self, make_event: Callable[..., dict], count: Callable[[str], None],
                 out: list, *, max_events: int = ERROR_EVENTS_PER_WINDOW,
                 window_secs: float = ERROR_WINDOW_SECS, clock=time.monotonic):
        self.make_event = make_event
        self.count = count
        self.out = out
        self.max_events = max_events
        self.window_secs = window_secs
        self.clock = clock
        self._window_start = clock()
        self._in_window = 0
        self.suppressed = 0
        self.total = 0

    def __call__(self, stage: str, reason: str, **fields) -> None:
        self.total += 1
        now = self.clock()
        if now - self._window_start >= self.window_secs:
            self._window_start, self._in_window = now, 0
        if self._in_window >= self.max_events:
            self.suppressed += 1
            self.count(stage)
            return
        self._in_window += 1
        if self.suppressed:
            fields["shouwang__suppressed_errors"] = self.suppressed
            self.suppressed = 0
        self.out.append(self.make_event(stage, reason, **fields))


class PacketProcessor:
    """Turns frames into flow, DNS, HTTP and TLS events (appended to `out`)."""

    def __init__(self, *, out: list, report: Callable[..., None], max_flows: int,
                 idle_timeout_secs: float, active_timeout_secs: float,
                 tcp_close_linger_secs: float, community_id: bool = True,
                 protocols: tuple[str, ...] = APP_PROTOCOLS, snaplen: int = 262_144):
        self.out = out
        self.report = report
        self.with_community_id = community_id
        self.snaplen = snaplen
        self.dns = "dns" in protocols
        self.http = "http" in protocols
        self.tls = "tls" in protocols
        self.decoder = Decoder()
        self.table = FlowTable(
            export=self._export, max_flows=max_flows,
            idle_timeout_ns=int(idle_timeout_secs * 1e9),
            active_timeout_ns=int(active_timeout_secs * 1e9),
            close_linger_ns=int(tcp_close_linger_secs * 1e9))
        self.packets = 0
        self.not_ip = 0
        self.corrupt = 0
        self.app_events = 0
        self.exported: dict[str, int] = {}
        self.context: dict = {}  # fields added to error reports (e.g. file.path)
        self.frame_base = 0      # packets before the current file: frame numbers are per file

    def packet(self, ts_ns: int, linktype: int, buf, off: int, caplen: int,
               origlen: int) -> None:
        self.packets += 1
        if not 0 <= ts_ns < MAX_TS_NS:
            self.corrupt += 1
            self.report("decode", f"timestamp out of range ({ts_ns} ns)",
                        shouwang__packet__number=self.packets - self.frame_base, **self.context)
            return
        if caplen > self.snaplen:
            caplen = self.snaplen
        try:
            decoded = self.decoder.decode(linktype, buf, off, caplen, origlen)
        except DecodeError as exc:
            self.corrupt += 1
            self.report("decode", str(exc),
                        shouwang__packet__number=self.packets - self.frame_base, **self.context)
            return
        except (struct.error, IndexError) as exc:  # a decoder bug must cost a packet, not a run
            self.corrupt += 1
            self.report("decode", f"undecodable frame: {exc}",
                        shouwang__packet__number=self.packets - self.frame_base, **self.context)
            return
        if decoded is None:
            self.not_ip += 1
            return
        version, proto, src, dst, sport, dport, flags, nbytes, start, end, vlan = decoded
        self.table.add(ts_ns, version, proto, src, sport, dst, dport, vlan, flags, nbytes)
        if end > start:
            if proto == PROTO_TCP:
                first = buf[start]
                if first == TLS_HANDSHAKE:
                    if self.tls:
                        self._app(parse_client_hello(buf, start, end), "tls", decoded, ts_ns)
                elif first in METHOD_FIRST_BYTES:
                    if self.http:
                        self._app(parse_http_request(buf, start, end), "http", decoded, ts_ns)
                elif (sport in DNS_PORTS or dport in DNS_PORTS) and self.dns and end - start > 2:
                    # DNS over TCP: a 2-byte length, then the message (first segment only).
                    self._app(parse_dns(buf, start + 2, end), "dns", decoded, ts_ns)
            elif proto == PROTO_UDP and (sport in DNS_PORTS or dport in DNS_PORTS) and self.dns:
                self._app(parse_dns(buf, start, end), "dns", decoded, ts_ns)

    def _app(self, fields: dict | None, protocol: str, decoded: tuple, ts_ns: int) -> None:
        if fields is None:
            return
        version, proto, src, dst, sport, dport = decoded[:6]
        event = new_event(
            "network." + protocol, timestamp=format_ts(ts_ns / 1e9),
            event__category=["network"], event__type=["protocol"],
            network__protocol=protocol, network__transport=TRANSPORT_NAMES[proto],
            network__type="ipv4" if version == 4 else "ipv6",
            source__ip=ip_text(version, src), source__port=sport,
            destination__ip=ip_text(version, dst), destination__port=dport)
        if decoded[10] is not None:
            event["network.vlan.id"] = str(decoded[10])
        if self.with_community_id:
            event["network.community_id"] = community_id(proto, src, sport, dst, dport)
        event.update(fields)
        self.app_events += 1
        self.out.append(event)

    def _export(self, flow, reason: str) -> None:
        self.exported[reason] = self.exported.get(reason, 0) + 1
        self.out.append(flow_event(flow, reason, with_community_id=self.with_community_id))

    def advance(self, now_ns: int) -> None:
        self.table.advance(now_ns)

    def flush(self) -> None:
        self.table.flush("end_of_capture")
