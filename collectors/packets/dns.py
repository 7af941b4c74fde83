"""A bounded DNS message parser (RFC 1035) for packet payloads: question, answers, rcode.

`parse_dns(buf, start, end)` returns the ECS `dns.*` fields of one message, or None when the
bytes are not a DNS message we can read. It never raises on hostile input: name pointers are
followed at most `MAX_POINTERS` times, names stop at 255 bytes, at most `MAX_ANSWERS` answers
are read, and every read is bounds-checked against `end`.
"""
from __future__ import annotations

import socket
import struct

MAX_POINTERS = 16
MAX_NAME_BYTES = 255
MAX_ANSWERS = 32

QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
          33: "SRV", 35: "NAPTR", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 64: "SVCB",
          65: "HTTPS", 99: "SPF", 255: "ANY", 252: "AXFR", 251: "IXFR", 257: "CAA"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}
HEADER_FLAGS = ((0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"), (0x0020, "AD"),
                (0x0010, "CD"))

_HEADER = struct.Struct("!HHHHHH").unpack_from
_RR = struct.Struct("!HHIH").unpack_from


class _Bad(Exception):
    pass


def _name(buf, pos: int, start: int, end: int) -> tuple[str, int]:
    """The name at `pos` and the position after it (pointers are offsets from `start`)."""
    labels: list[str] = []
    size = 0
    after = None
    jumps = 0
    while True:
        if pos >= end:
            raise _Bad
        length = buf[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 2 > end:
                raise _Bad
            jumps += 1
            if jumps > MAX_POINTERS:
                raise _Bad
            if after is None:
                after = pos + 2
            pos = start + (((length & 0x3F) << 8) | buf[pos + 1])
            continue
        if length & 0xC0:
            raise _Bad  # extended label types are obsolete
        pos += 1
        if pos + length > end:
            raise _Bad
        size += length + 1
        if size > MAX_NAME_BYTES:
            raise _Bad
        labels.append(bytes(buf[pos:pos + length]).decode("ascii", "backslashreplace"))
        pos += length
    return ".".join(labels), (after if after is not None else pos)


def _rdata(buf, rtype: int, pos: int, rdlen: int, start: int, end: int) -> str:
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, bytes(buf[pos:pos + 4]))
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, bytes(buf[pos:pos + 16]))
    if rtype in (2, 5, 12):
        return _name(buf, pos, start, end)[0]
    if rtype == 15 and rdlen >= 3:
        return _name(buf, pos + 2, start, end)[0]
    if rtype == 16 and rdlen >= 1:
        parts, p, stop = [], pos, pos + rdlen
        while p < stop:
            length = buf[p]
            parts.append(bytes(buf[p + 1:min(p + 1 + length, stop)]).decode("utf-8", "replace"))
            p += 1 + length
        return "".join(parts)
    return bytes(buf[pos:pos + rdlen]).hex()


def parse_dns(buf, start: int, end: int) -> dict | None:
    """`dns.*` fields of the message in buf[start:end], or None if it is not readable DNS."""
    if end - start < 12:
        return None
    ident, flags, qdcount, ancount, _nscount, _arcount = _HEADER(buf, start)
    if qdcount != 1 and not (qdcount == 0 and flags & 0x8000):
        return None  # real traffic asks one question; anything else is not worth guessing at
    is_response = bool(flags & 0x8000)
    fields: dict = {
        "dns.id": str(ident),
        "dns.type": "answer" if is_response else "query",
        "dns.op_code": OPCODES.get((flags >> 11) & 0x0F, str((flags >> 11) & 0x0F)),
        "dns.header_flags": [name for bit, name in HEADER_FLAGS if flags & bit],
    }
    try:
        pos = start + 12
        if qdcount:
            qname, pos = _name(buf, pos, start, end)
            if pos + 4 > end:
                return None
            qtype, _qclass = struct.unpack_from("!HH", buf, pos)
            pos += 4
            fields["dns.question.name"] = qname
            fields["dns.question.type"] = QTYPES.get(qtype, str(qtype))
            fields["dns.question.class"] = "IN" if _qclass == 1 else str(_qclass)
        if is_response:
            fields["dns.response_code"] = RCODES.get(flags & 0x0F, str(flags & 0x0F))
            answers = []
            resolved = []
            for _ in range(min(ancount, MAX_ANSWERS)):
                rname, pos = _name(buf, pos, start, end)
                if pos + 10 > end:
                    break
                rtype, rclass, ttl, rdlen = _RR(buf, pos)
                pos += 10
                if pos + rdlen > end:
                    break
                data = _rdata(buf, rtype, pos, rdlen, start, end)
                pos += rdlen
                answers.append({"name": rname, "type": QTYPES.get(rtype, str(rtype)),
                                "class": "IN" if rclass == 1 else str(rclass),
                                "ttl": ttl, "data": data})
                if rtype in (1, 28):
                    resolved.append(data)
            if answers:
                fields["dns.answers"] = answers
            if resolved:
                fields["dns.resolved_ip"] = resolved
    except (_Bad, UnicodeError, ValueError, IndexError):
        return None
    return fields
