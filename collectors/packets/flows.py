"""A bounded, bidirectional flow table in event time, and the ECS flow events it exports.

Contract:
- A flow is keyed by (proto, addresses, ports, vlan); both directions of a conversation are
  one flow. The side that sent the first packet is `source` (a first TCP packet that is a bare
  SYN+ACK means the capture began mid-handshake, so its receiver is the source).
- Time is the packets' own time (`ts_ns`), never the wall clock: a file read today times out
  its flows exactly as live capture would have. `advance(now_ns)` moves time forward without
  a packet (live capture calls it on a quiet link).
- A flow is exported (one event) when:
    tcp_close       both FINs or an RST were seen, and `close_linger` has passed (so the last
                    ACK and retransmitted RSTs still belong to it)      event.action flow_end
    idle_timeout    no packet for `idle_timeout`                     event.action flow_timeout
    active_timeout  it has lasted `active_timeout`: the part so far is exported and counting
                    restarts in the same flow                        event.action flow_timeout
    evicted         the table holds `max_flows` and a new flow came: the least recently seen
                    flow is exported early (counted)                      event.action flow_end
    end_of_capture  `flush()` at the end of a file or capture             event.action flow_end
- Memory is bounded by `max_flows` (plus the close-linger queue, which only names flows in
  the table).
- Byte counts are IP packet lengths (see decode.py), so a snap length never shrinks them.
"""
from __future__ import annotations

import base64
import hashlib
import socket
import struct
from collections import OrderedDict, deque
from typing import Callable

from core.events import format_ts, new_event

TCP_FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"),
                    (0x20, "U"), (0x40, "E"), (0x80, "C"))
# Flags in scapy's notation ("S", "SA", "FA", "PA", "RA"): one string per distinct combination.
TCP_FLAG_NAMES = tuple("".join(letter for bit, letter in TCP_FLAG_LETTERS if value & bit)
                       for value in range(256))
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
TRANSPORT_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah",
                   58: "ipv6-icmp", 89: "ospf", 132: "sctp"}
END_ACTIONS = {"tcp_close": "flow_end", "end_of_capture": "flow_end", "evicted": "flow_end",
               "idle_timeout": "flow_timeout", "active_timeout": "flow_timeout"}
# Time between expiry sweeps, at most; an export is at most this late (in event time).
MAX_SWEEP_NS = 1_000_000_000
PORTED_PROTOS = {6, 17, 132}


class Flow:
    """One conversation's counters. Mutable on purpose: it is updated once per packet."""

    __slots__ = ("key", "version", "start", "last", "src_packets", "src_bytes", "dst_packets",
                 "dst_bytes", "flag_combos", "fins", "closed_at")

    def __init__(self, key: tuple, version: int, ts_ns: int):
        self.key = key
        self.version = version
        self.start = ts_ns
        self.last = ts_ns
        self.src_packets = self.src_bytes = self.dst_packets = self.dst_bytes = 0
        self.flag_combos: list[int] = []
        self.fins = 0          # bit 1: source sent FIN, bit 2: destination sent FIN
        self.closed_at = None  # event time the TCP connection closed


class FlowTable:
    """Flows in least-recently-seen order; `add` once per packet, exports go to `export`."""

    def __init__(self, *, export: Callable[[Flow, str], None], max_flows: int,
                 idle_timeout_ns: int, active_timeout_ns: int, close_linger_ns: int):
        self.export = export
        self.max_flows = max_flows
        self.idle_timeout_ns = idle_timeout_ns
        self.active_timeout_ns = active_timeout_ns
        self.close_linger_ns = close_linger_ns
        self.sweep_ns = min(MAX_SWEEP_NS, idle_timeout_ns, close_linger_ns or MAX_SWEEP_NS)
        self.flows: OrderedDict[tuple, Flow] = OrderedDict()
        self._closing: deque[tuple[int, tuple, Flow]] = deque()
        self.now = 0
        self._next_sweep = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.flows)

    def add(self, ts_ns: int, version: int, proto: int, src: bytes, sport: int, dst: bytes,
            dport: int, vlan, flags: int, nbytes: int) -> None:
        if ts_ns > self.now:
            self.now = ts_ns
            if ts_ns >= self._next_sweep:
                self._sweep(ts_ns)
        flows = self.flows
        key = (proto, src, sport, dst, dport, vlan)
        flow = flows.get(key)
        forward = True
        if flow is None:
            flow = flows.get((proto, dst, dport, src, sport, vlan))
            if flow is None:
                if flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK and proto == 6:
                    key = (proto, dst, dport, src, sport, vlan)
                    forward = False
                flow = self._new_flow(key, version, ts_ns)
            else:
                forward = False
                flows.move_to_end(flow.key)
        else:
            flows.move_to_end(key)
        if ts_ns - flow.start >= self.active_timeout_ns and flow.closed_at is None:
            self.export(flow, "active_timeout")
            _restart(flow, ts_ns)
        if forward:
            flow.src_packets += 1
            flow.src_bytes += nbytes
        else:
            flow.dst_packets += 1
            flow.dst_bytes += nbytes
        if ts_ns > flow.last:
            flow.last = ts_ns
        if proto == 6:
            if flags not in flow.flag_combos:
                flow.flag_combos.append(flags)
            if flags & (TCP_FIN | TCP_RST) and flow.closed_at is None:
                flow.fins |= 1 if forward else 2
                if flags & TCP_RST or flow.fins == 3:
                    flow.closed_at = ts_ns
                    self._closing.append((ts_ns + self.close_linger_ns, flow.key, flow))

    def _new_flow(self, key: tuple, version: int, ts_ns: int) -> Flow:
        flows = self.flows
        if len(flows) >= self.max_flows:
            _old_key, oldest = flows.popitem(last=False)
            self.evicted += 1
            self.export(oldest, "evicted")
        flow = flows[key] = Flow(key, version, ts_ns)
        return flow

    def advance(self, now_ns: int) -> None:
        """Move event time to `now_ns` (if later) and export what has timed out."""
        if now_ns > self.now:
            self.now = now_ns
        self._sweep(self.now)

    def _sweep(self, now: int) -> None:
        self._next_sweep = now + self.sweep_ns
        flows = self.flows
        closing = self._closing
        while closing and closing[0][0] <= now:
            _deadline, key, flow = closing.popleft()
            if flows.get(key) is flow:
                del flows[key]
                self.export(flow, "tcp_close")
        idle_before = now - self.idle_timeout_ns
        while flows:
            key = next(iter(flows))
            flow = flows[key]
            if flow.last > idle_before:
                break
            del flows[key]
            self.export(flow, "tcp_close" if flow.closed_at is not None else "idle_timeout")

    def flush(self, reason: str = "end_of_capture") -> None:
        """Export every flow (closed ones as tcp_close) and empty the table."""
        flows, self.flows = self.flows, OrderedDict()
        self._closing.clear()
        for flow in flows.values():
            self.export(flow, "tcp_close" if flow.closed_at is not None else reason)


def _restart(flow: Flow, ts_ns: int) -> None:
    flow.start = flow.last = ts_ns
    flow.src_packets = flow.src_bytes = flow.dst_packets = flow.dst_bytes = 0
    flow.flag_combos = []


def ip_text(version: int, raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, raw)


def community_id(proto: int, src: bytes, sport: int, dst: bytes, dport: int,
                 seed: int = 0) -> str:
    """Community ID v1 (github.com/corelight/community-id-spec) of a TCP/UDP/SCTP or portless
    flow: the same conversation gets the same id in Zeek, Suricata, Wireshark and here."""
    if (src, sport) > (dst, dport):
        src, sport, dst, dport = dst, dport, src, sport
    data = struct.pack("!H", seed) + src + dst + struct.pack("!BB", proto, 0)
    if proto in PORTED_PROTOS:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def flow_event(flow: Flow, reason: str, *, with_community_id: bool = True) -> dict:
    """The ECS event (event.dataset network.flow) for an exported flow."""
    proto, src, sport, dst, dport, vlan = flow.key
    version = flow.version
    start = format_ts(flow.start / 1e9)
    event = new_event(
        "network.flow", timestamp=start,
        event__category=["network"], event__type=["connection"],
        event__action=END_ACTIONS[reason],
        event__start=start, event__end=format_ts(flow.last / 1e9),
        event__duration=flow.last - flow.start,
        source__ip=ip_text(version, src), destination__ip=ip_text(version, dst),
        source__packets=flow.src_packets, source__bytes=flow.src_bytes,
        destination__packets=flow.dst_packets, destination__bytes=flow.dst_bytes,
        network__packets=flow.src_packets + flow.dst_packets,
        network__bytes=flow.src_bytes + flow.dst_bytes,
        network__type="ipv4" if version == 4 else "ipv6",
        network__transport=TRANSPORT_NAMES.get(proto, str(proto)),
        network__iana_number=str(proto),
        shouwang__flow__end_reason=reason,
    )
    if proto in PORTED_PROTOS:
        event["source.port"] = sport
        event["destination.port"] = dport
    if proto == 6:
        event["shouwang.flow.tcp_flags"] = [TCP_FLAG_NAMES[f] for f in flow.flag_combos]
    if vlan is not None:
        event["network.vlan.id"] = str(vlan)
    if with_community_id:
        event["network.community_id"] = community_id(proto, src, sport, dst, dport)
    return event
