"""A fast reader for capture files: classic pcap (us and ns, both byte orders) and pcapng.

`read_capture(path, on_error)` yields one tuple per packet record, without copying its bytes:

    (ts_ns, linktype, buf, offset, caplen, origlen)

`buf` is the whole file (an mmap, or bytes for empty and non-regular files); the frame is
`buf[offset:offset + caplen]`. No scapy on this path: it runs once per packet.

Damage never raises. Each problem is reported once through `on_error(reason, offset)` and
reading goes on with what can still be trusted:
- a file cut in the middle of a record ends the file after the last whole record;
- a record or block with an impossible length (bigger than the file, than the snap length, or
  than any real frame) loses the framing, so the reader scans forward for the next plausible
  record (pcap: a sane header followed by another sane header or the end of the file; pcapng:
  a known block type whose leading and trailing lengths agree) and resumes there;
- an unknown file format is one error and no packets.
An mmap'd file that another process truncates while we read it can still fault (SIGBUS):
capture files are read after they are written.
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import Callable, Iterator

PacketRecord = tuple[int, int, object, int, int, int]
OnError = Callable[[str, int], None]

# No real link layer carries frames above 256 KiB; libpcap refuses bigger records too.
MAX_RECORD_BYTES = 262_144
# A block holds one record plus options; anything much bigger is a damaged length field.
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + 65_536
# How far a damaged file is scanned for the next plausible record before we give up on it.
RESYNC_MAX_BYTES = 16 * 1024 * 1024
# A record whose timestamp is this far from the last good one is not believed during a resync.
RESYNC_MAX_TS_JUMP_SECS = 86_400

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_PB = 2       # obsolete Packet Block, still written by old tools
PCAPNG_SPB = 3
PCAPNG_NRB = 4
PCAPNG_ISB = 5
PCAPNG_EPB = 6
PCAPNG_DSB = 0x0A
PCAPNG_KNOWN_BLOCKS = {PCAPNG_SHB, PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_NRB, PCAPNG_ISB,
                       PCAPNG_EPB, PCAPNG_DSB, 0x0BAD, 0x40000BAD, 0x80000001}


def open_buffer(path: str | os.PathLike) -> object:
    """The file's bytes: an mmap for regular non-empty files, else its whole content."""
    with open(path, "rb") as handle:
        try:
            if os.fstat(handle.fileno()).st_size > 0:
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            pass
        return handle.read()


def read_capture(path: str | os.PathLike, on_error: OnError) -> Iterator[PacketRecord]:
    """Packet records of a pcap or pcapng file (format detected from its first bytes)."""
    buf = open_buffer(path)
    try:
        yield from read_buffer(buf, on_error)
    finally:
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()
            except BufferError:
                # A caller still holds a slice view; the map is freed when that goes away.
                pass


def read_buffer(buf, on_error: OnError) -> Iterator[PacketRecord]:
    if len(buf) < 4:
        on_error("file too short to be a capture file" if len(buf) else "empty capture file", 0)
        return
    (magic_le,) = struct.unpack_from("<I", buf, 0)
    if magic_le == PCAPNG_SHB:
        yield from _read_pcapng(buf, on_error)
    elif magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        yield from _read_pcap(buf, "<", magic_le == PCAP_MAGIC_NS, on_error)
    elif struct.unpack_from(">I", buf, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        yield from _read_pcap(buf, ">", struct.unpack_from(">I", buf, 0)[0] == PCAP_MAGIC_NS,
                              on_error)
    else:
        on_error(f"not a pcap or pcapng file (magic {magic_le:#010x})", 0)


# --- classic pcap -------------------------------------------------------------------------

def _read_pcap(buf, endian: str, nanos: bool, on_error: OnError) -> Iterator[PacketRecord]:
    size = len(buf)
    if size < 24:
        on_error("pcap file header truncated", 0)
        return
    _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
        endian + "HHiIII", buf, 4)
    linktype = network & 0xFFFF  # upper bits carry the FCS length, not the link type
    max_caplen = max(snaplen, MAX_RECORD_BYTES)
    frac_to_ns = 1 if nanos else 1000
    frac_limit = 1_000_000_000 if nanos else 1_000_000
    header = struct.Struct(endian + "IIII")
    unpack = header.unpack_from
    off = 24
    last_sec = None
    while off < size:
        if off + 16 > size:
            on_error(f"truncated record header ({size - off} bytes left)", off)
            return
        sec, frac, caplen, origlen = unpack(buf, off)
        if caplen > max_caplen or frac >= frac_limit:
            on_error(f"record with impossible length or time (caplen {caplen}, "
                     f"frac {frac})", off)
            resumed = _pcap_resync(buf, off + 1, unpack, max_caplen, frac_limit, last_sec)
            if resumed is None:
                on_error("no readable record after the damage; rest of file skipped", off)
                return
            off = resumed
            continue
        data = off + 16
        if data + caplen > size:
            on_error(f"truncated packet: record wants {caplen} bytes, "
                     f"{size - data} left", off)
            return
        if origlen < caplen:
            # Some writers get this wrong; the captured bytes are still framed correctly.
            origlen = caplen
        last_sec = sec
        yield sec * 1_000_000_000 + frac * frac_to_ns, linktype, buf, data, caplen, origlen
        off = data + caplen


def _pcap_header_ok(buf, off, unpack, max_caplen, frac_limit, last_sec) -> int | None:
    """End of the record at `off` when its header is plausible, else None."""
    if off + 16 > len(buf):
        return None
    sec, frac, caplen, origlen = unpack(buf, off)
    if caplen > max_caplen or caplen > origlen or origlen > MAX_RECORD_BYTES \
            or frac >= frac_limit or caplen == 0:
        return None
    if last_sec is not None and abs(sec - last_sec) > RESYNC_MAX_TS_JUMP_SECS:
        return None
    end = off + 16 + caplen
    return end if end <= len(buf) else None


def _pcap_resync(buf, start, unpack, max_caplen, frac_limit, last_sec) -> int | None:
    size = len(buf)
    for off in range(start, min(size, start + RESYNC_MAX_BYTES)):
        end = _pcap_header_ok(buf, off, unpack, max_caplen, frac_limit, last_sec)
        if end is None:
            continue
        # One sane header can be chance; two in a row (or one ending the file) is framing.
        if end == size or _pcap_header_ok(buf, end, unpack, max_caplen, frac_limit,
                                          last_sec) is not None:
            return off
    return None


# --- pcapng ---------------------------------------------------------------------------------

class _Interface:
    __slots__ = ("linktype", "snaplen", "ts_mul", "ts_div", "ts_offset_ns")

    def __init__(self, linktype: int, snaplen: int):
        self.linktype = linktype
        self.snaplen = snaplen or MAX_RECORD_BYTES
        self.ts_mul, self.ts_div = 1000, 1  # default resolution: microseconds
        self.ts_offset_ns = 0

    def set_resolution(self, tsresol: int) -> None:
        if tsresol & 0x80:
            # Resolution 2^-n: ns = ticks * 1e9 / 2^n.
            self.ts_mul, self.ts_div = 1_000_000_000, 1 << (tsresol & 0x7F)
        else:
            exponent = tsresol & 0x7F
            if exponent <= 9:
                self.ts_mul, self.ts_div = 10 ** (9 - exponent), 1
            else:
                self.ts_mul, self.ts_div = 1, 10 ** (exponent - 9)

    def ts_ns(self, ticks: int) -> int:
        if self.ts_div == 1:
            return ticks * self.ts_mul + self.ts_offset_ns
        return ticks * self.ts_mul // self.ts_div + self.ts_offset_ns


def _read_pcapng(buf, on_error: OnError) -> Iterator[PacketRecord]:
    size = len(buf)
    off = 0
    endian = "<"
    interfaces: list[_Interface] = []
    while off < size:
        if off + 12 > size:
            on_error(f"truncated block header ({size - off} bytes left)", off)
            return
        if struct.unpack_from("<I", buf, off)[0] == PCAPNG_SHB:
            if off + 12 > size:
                on_error("truncated section header block", off)
                return
            (bom,) = struct.unpack_from("<I", buf, off + 8)
            if bom == PCAPNG_BYTE_ORDER_MAGIC:
                endian = "<"
            elif bom == 0x4D3C2B1A:
                endian = ">"
            else:
                on_error("section header with unknown byte order", off)
                resumed = _pcapng_resync(buf, off + 4, endian)
                if resumed is None:
                    return
                off = resumed
                continue
            interfaces = []  # interface ids are per section
        btype, blen = struct.unpack_from(endian + "II", buf, off)
        if blen < 12 or blen % 4 or off + blen > size or \
                struct.unpack_from(endian + "I", buf, off + blen - 4)[0] != blen:
            if off + blen > size and blen % 4 == 0 and 12 <= blen <= MAX_BLOCK_BYTES:
                on_error(f"truncated block (type {btype:#x}, wants {blen} bytes, "
                         f"{size - off} left)", off)
                return
            on_error(f"block with impossible length {blen} (type {btype:#x})", off)
            resumed = _pcapng_resync(buf, off + 4, endian)
            if resumed is None:
                on_error("no readable block after the damage; rest of file skipped", off)
                return
            off = resumed
            continue
        body = off + 8
        body_end = off + blen - 4
        if btype == PCAPNG_EPB:
            if body + 20 > body_end:
                on_error("enhanced packet block too short", off)
            else:
                iface_id, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                    endian + "IIIII", buf, body)
                if iface_id >= len(interfaces):
                    on_error(f"packet names unknown interface {iface_id}", off)
                elif body + 20 + caplen > body_end:
                    on_error(f"packet length {caplen} exceeds its block", off)
                else:
                    iface = interfaces[iface_id]
                    yield (iface.ts_ns((ts_hi << 32) | ts_lo), iface.linktype, buf, body + 20,
                           caplen, max(origlen, caplen))
        elif btype == PCAPNG_SPB:
            if not interfaces:
                on_error("simple packet block before any interface", off)
            else:
                (origlen,) = struct.unpack_from(endian + "I", buf, body)
                iface = interfaces[0]
                caplen = min(origlen, iface.snaplen, body_end - body - 4)
                # No timestamp in a simple packet block; 0 keeps flow times honest (unknown).
                yield 0, iface.linktype, buf, body + 4, caplen, max(origlen, caplen)
        elif btype == PCAPNG_PB:
            if body + 20 > body_end:
                on_error("packet block too short", off)
            else:
                iface_id, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                    endian + "HHIIII", buf, body)
                if iface_id >= len(interfaces) or body + 20 + caplen > body_end:
                    on_error("packet block with bad interface or length", off)
                else:
                    iface = interfaces[iface_id]
                    yield (iface.ts_ns((ts_hi << 32) | ts_lo), iface.linktype, buf, body + 20,
                           caplen, max(origlen, caplen))
        elif btype == PCAPNG_IDB:
            if body + 8 > body_end:
                on_error("interface description block too short", off)
                interfaces.append(_Interface(0, 0))  # keep ids aligned with the file's
            else:
                linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, body)
                iface = _Interface(linktype, snaplen)
                _read_idb_options(buf, body + 8, body_end, endian, iface)
                interfaces.append(iface)
        off += blen


def _read_idb_options(buf, off: int, end: int, endian: str, iface: _Interface) -> None:
    while off + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, off)
        if code == 0:
            return
        value = off + 4
        if value + length > end:
            return
        if code == 9 and length >= 1:       # if_tsresol
            iface.set_resolution(buf[value])
        elif code == 14 and length >= 8:    # if_tsoffset, seconds
            iface.ts_offset_ns = struct.unpack_from(endian + "q", buf, value)[0] * 1_000_000_000
        off = value + ((length + 3) & ~3)


def _pcapng_resync(buf, start: int, endian: str) -> int | None:
    size = len(buf)
    off = (start + 3) & ~3  # blocks are 32-bit aligned in the file
    limit = min(size, start + RESYNC_MAX_BYTES)
    while off + 12 <= limit:
        btype, blen = struct.unpack_from(endian + "II", buf, off)
        if btype in PCAPNG_KNOWN_BLOCKS and blen >= 12 and blen % 4 == 0 \
                and off + blen <= size \
                and struct.unpack_from(endian + "I", buf, off + blen - 4)[0] == blen:
            return off
        off += 4
    return None
