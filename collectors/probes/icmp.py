"""The icmp prober: one echo request over a raw socket (root or CAP_NET_RAW), IPv4 and IPv6.

A raw socket sees every ICMP packet the host receives, so replies are matched on source address,
identifier and sequence number (both random per probe). IPv4 replies carry their IP header (the
TTL is the reply hop limit); for IPv6 the kernel strips it and computes the checksum, and the hop
limit comes as ancillary data. Without the privilege the probe fails with that reason.
Metrics: probe_icmp_duration_seconds{phase=resolve|setup|rtt}, probe_icmp_reply_hop_limit.
"""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import time

from collectors.probes.result import ProbeResult, ResolveError, error_text, ip_version, resolve
from collectors.probes.settings import ProbeTarget

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, sequence: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, sequence)
    if family == socket.AF_INET6:
        return header + payload  # the kernel fills in the ICMPv6 checksum
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident,
                       sequence) + payload


async def _receive(sock: socket.socket):
    loop = asyncio.get_running_loop()
    while True:
        try:
            return sock.recvmsg(4096, socket.CMSG_SPACE(4))
        except BlockingIOError:
            pass
        ready = loop.create_future()
        loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(sock.fileno())


def _match(family: int, data: bytes, ancillary, ident: int, sequence: int) -> int | None:
    """The reply's hop limit if `data` is the reply to our echo, else None."""
    if family == socket.AF_INET:
        if len(data) < 20:
            return None
        header_len = (data[0] & 0x0F) * 4
        hop_limit, icmp = data[8], data[header_len:]
    else:
        hop_limit, icmp = -1, data
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = int.from_bytes(value[:4], sys.byteorder)
    if len(icmp) < 8:
        return None
    kind, _, _, reply_ident, reply_sequence = struct.unpack("!BBHHH", icmp[:8])
    if kind != ECHO_REPLY[family] or reply_ident != ident or reply_sequence != sequence:
        return None
    return hop_limit


async def probe_icmp(target: ProbeTarget, prober) -> ProbeResult:
    result = ProbeResult()
    phases = {"resolve": 0.0, "setup": 0.0, "rtt": 0.0}
    protocol = 0
    hop_limit = None
    sock = None
    try:
        family, address, phases["resolve"] = await resolve(target.target, target.ip_protocol)
        protocol = ip_version(family)
        result.fields.update({"destination.address": address, "destination.ip": address})
        started = time.perf_counter()
        try:
            sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ICMP
                                 if family == socket.AF_INET else socket.IPPROTO_ICMPV6)
        except PermissionError:
            raise ResolveError("ICMP needs root or CAP_NET_RAW (raw socket refused)") from None
        sock.setblocking(False)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        ident, sequence = struct.unpack("!HH", os.urandom(4))
        packet = echo_request(family, ident, sequence,
                              os.urandom(target.icmp.payload_bytes))
        phases["setup"] = time.perf_counter() - started
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        await loop.sock_sendto(sock, packet, (address, 0))
        while hop_limit is None:
            data, ancillary, _, peer = await _receive(sock)
            if peer[0].split("%")[0] == address:
                hop_limit = _match(family, data, ancillary, ident, sequence)
        phases["rtt"] = time.perf_counter() - started
        result.success = True
    except ResolveError as exc:
        result.fail(str(exc))
    except OSError as exc:
        result.fail(error_text(exc))
    finally:
        if sock is not None:
            sock.close()
    result.add("probe_dns_lookup_time_seconds", phases["resolve"])
    result.add("probe_ip_protocol", protocol)
    for phase, seconds in phases.items():
        result.add("probe_icmp_duration_seconds", seconds, phase)
    if hop_limit is not None and hop_limit >= 0:
        result.add("probe_icmp_reply_hop_limit", hop_limit)
    result.fields["shouwang.probe.icmp.rtt.sec"] = round(phases["rtt"], 6)
    return result
