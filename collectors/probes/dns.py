"""The dns prober: one A or AAAA query over UDP to a configured server; answer counts, rcode.

Wire format by hand (RFC 1035 header and question; the counts come from the header), so no DNS
library is needed. A response whose id or question does not match ours is ignored (spoofing and
late answers), so only a timeout or a real answer ends the probe. Metrics follow
blackbox_exporter: probe_dns_answer_rrs, probe_dns_authority_rrs, probe_dns_additional_rrs,
probe_dns_query_succeeded, probe_dns_duration_seconds{phase=resolve|connect|request},
probe_dns_lookup_time_seconds (resolving the server's name).
"""
from __future__ import annotations

import asyncio
import os
import struct
import time

from collectors.probes.result import ProbeResult, ResolveError, error_text, ip_version, resolve
from collectors.probes.settings import ProbeTarget
from collectors.probes.tcp import split_host_port

QUERY_TYPES = {"A": 1, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise ValueError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out) + b"\x00"


def build_query(query_id: int, name: str, query_type: str) -> bytes:
    """A recursive query (RD set) for one name and type."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", QUERY_TYPES[query_type], 1)


def parse_header(packet: bytes) -> tuple[int, int, int, int, int, int]:
    """(id, flags, qdcount, ancount, nscount, arcount); ValueError if too short."""
    if len(packet) < 12:
        raise ValueError("DNS response shorter than its header")
    return struct.unpack("!HHHHHH", packet[:12])


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, query: bytes):
        self.query = query
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        # Same id and same question section, or it is not the answer to our query.
        if len(data) >= len(self.query) and data[:2] == self.query[:2] and \
                data[12:len(self.query)] == self.query[12:] and not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def probe_dns(target: ProbeTarget, prober) -> ProbeResult:
    options = target.dns
    result = ProbeResult()
    phases = {"resolve": 0.0, "connect": 0.0, "request": 0.0}
    protocol = 0
    counts = (0, 0, 0)
    transport = None
    try:
        host, port = split_host_port(options.server, 53)
        family, address, phases["resolve"] = await resolve(host, target.ip_protocol)
        protocol = ip_version(family)
        result.fields.update({"destination.address": address, "destination.ip": address,
                              "destination.port": port, "dns.question.name": target.target,
                              "dns.question.type": options.query_type})
        query = build_query(int.from_bytes(os.urandom(2), "big"), target.target,
                            options.query_type)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        transport, protocol_obj = await loop.create_datagram_endpoint(
            lambda: _Answer(query), remote_addr=(address, port), family=family)
        phases["connect"] = time.perf_counter() - started
        started = time.perf_counter()
        transport.sendto(query)
        answer = await protocol_obj.answer
        phases["request"] = time.perf_counter() - started
        _, flags, _, ancount, nscount, arcount = parse_header(answer)
        counts = (ancount, nscount, arcount)
        rcode = RCODES.get(flags & 0x0F, str(flags & 0x0F))
        result.fields["dns.response_code"] = rcode
        result.fields["dns.answers.count"] = ancount
        if rcode not in options.valid_rcodes:
            result.fail(f"rcode {rcode} is not valid")
        elif options.fail_if_no_answer and ancount == 0:
            result.fail("no answer records")
        else:
            result.success = True
    except (ResolveError, ValueError) as exc:
        result.fail(str(exc))
    except OSError as exc:
        result.fail(error_text(exc))
    finally:
        if transport is not None:
            transport.close()
    result.add("probe_dns_lookup_time_seconds", phases["resolve"])
    result.add("probe_ip_protocol", protocol)
    for phase, seconds in phases.items():
        result.add("probe_dns_duration_seconds", seconds, phase)
    result.add("probe_dns_answer_rrs", counts[0])
    result.add("probe_dns_authority_rrs", counts[1])
    result.add("probe_dns_additional_rrs", counts[2])
    result.add("probe_dns_query_succeeded", 1 if result.success else 0)
    return result
