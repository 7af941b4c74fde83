"""A minimal, strict DER encoder/decoder for the few ASN.1 shapes SM2 needs.

Covers SEQUENCE, INTEGER (non-negative), OCTET STRING, BIT STRING (no unused bits), OBJECT
IDENTIFIER, NULL and explicit context tags [n]. Decoding is strict: definite minimal lengths,
minimal integers, no trailing bytes; anything else raises ``DerError``. Only structure lives
here; what the structures mean (keys, signatures, ciphertexts) lives in crypto/sm2.py.
"""
from __future__ import annotations

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06


class DerError(ValueError):
    """Input is not the strict DER we expect."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def integer(n: int) -> bytes:
    if n < 0:
        raise DerError("negative integers are not used here")
    body = n.to_bytes(n.bit_length() // 8 + 1, "big")  # always room for a 0 sign bit
    return tlv(INTEGER, body)


def octets(b: bytes) -> bytes:
    return tlv(OCTET_STRING, b)


def bits(b: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + b)


def explicit(n: int, inner: bytes) -> bytes:
    return tlv(0xA0 | n, inner)


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``pos``: returns (tag, value, next position)."""
    if pos + 2 > len(data):
        raise DerError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not supported")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("truncated DER")
    return tag, data[pos:end], end


def expect(data: bytes, tag: int, pos: int = 0) -> tuple[bytes, int]:
    got, value, nxt = read(data, pos)
    if got != tag:
        raise DerError(f"expected tag 0x{tag:02x}, found 0x{got:02x}")
    return value, nxt


def read_all(data: bytes, tag: int) -> bytes:
    """Decode exactly one TLV of ``tag`` covering all of ``data``."""
    value, end = expect(data, tag)
    if end != len(data):
        raise DerError("trailing bytes after DER")
    return value


def items(seq_value: bytes) -> list[tuple[int, bytes]]:
    """Split the content of a constructed value into (tag, value) pairs."""
    out, pos = [], 0
    while pos < len(seq_value):
        tag, value, pos = read(seq_value, pos)
        out.append((tag, value))
    return out


def to_int(value: bytes) -> int:
    if not value:
        raise DerError("empty INTEGER")
    if value[0] & 0x80:
        raise DerError("negative INTEGER")
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise DerError("non-minimal INTEGER")
    return int.from_bytes(value, "big")


def to_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise DerError("bad OBJECT IDENTIFIER")
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    n = 0
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


def to_bits(value: bytes) -> bytes:
    if not value or value[0] != 0:
        raise DerError("BIT STRING with unused bits")
    return value[1:]
