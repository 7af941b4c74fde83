"""A lean frame decoder: link layer -> IPv4/IPv6 -> TCP/UDP/ICMP, with struct on raw bytes.

`decode(linktype, buf, offset, caplen, origlen)` returns a `Decoded` tuple, None for frames
that carry no IP (ARP, LLDP, ...), or raises `DecodeError` for a frame whose own length fields
contradict each other or the frame (corrupt, not merely cut short by the snap length).

    Decoded = (ip_version, proto, src, dst, sport, dport, tcp_flags, ip_bytes,
               payload_start, payload_end, vlan_id)

- src/dst are the raw 4- or 16-byte addresses (hashable bytes: flow keys stay cheap; text
  is made once per flow, at export).
- ports are 0 for protocols without ports (ICMP included: echo request and reply between two
  hosts are one flow).
- ip_bytes is the IP packet length from its header (IPv4 total length, IPv6 40 + payload
  length): what the packet weighed on the wire, even when the capture kept less of it.
- payload_start/end bound the captured transport payload inside `buf` (end <= start: none).
- vlan_id is the outer 802.1Q/802.1ad tag, or None.
- Fragments: the first fragment carries the ports; later fragments of the same datagram are
  given the ports of their first fragment when it was seen (a small bounded map), else 0.

Link types: Ethernet (1) with stacked VLAN tags, raw IP (101, 12, 14, 228, 229), BSD
loopback/NULL (0, 108), Linux cooked v1 (113) and v2 (276). IPv6 extension headers walked:
hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6.
Nothing here imports scapy: this runs once per packet.
"""
from __future__ import annotations

import struct
from typing import Optional

Decoded = tuple  # see the module docstring for the field order

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
RAW_LINKTYPES = {LINKTYPE_RAW, 12, 14}

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = {0x8100, 0x88A8, 0x9100}

PROTO_TCP = 6
PROTO_UDP = 17
# IPv6 extension headers: hop-by-hop, routing, destination options, mobility, HIP, shim6
# (length in 8-octet units after the first 8), fragment (fixed 8) and AH (4-octet units).
IPV6_EXT_8 = {0, 43, 60, 135, 139, 140}
IPV6_FRAGMENT = 44
IPV6_AH = 51

MAX_FRAGMENT_MEMORY = 4096

_H = struct.Struct("!H").unpack_from
_HH = struct.Struct("!HH").unpack_from
_IPV4 = struct.Struct("!BxHHHxB").unpack_from      # vihl, total, ident, frag, proto
_IPV6 = struct.Struct("!IHB").unpack_from          # vtcfl, payload length, next header
_IPV6_FRAG = struct.Struct("!BxHI").unpack_from    # next, offset+flags, ident
_TCP = struct.Struct("!HH8xH").unpack_from         # sport, dport, offset+flags
_UDP = struct.Struct("!HHH").unpack_from           # sport, dport, length
_NULL_LE = struct.Struct("<I").unpack_from
_NULL_BE = struct.Struct(">I").unpack_from
BSD_AF_INET = 2
BSD_AF_INET6 = {10, 24, 28, 30}


class DecodeError(ValueError):
    """A frame whose length fields are impossible (counted, reported, skipped)."""


class Decoder:
    """Decodes frames; holds the only state decoding needs: ports of recent first fragments."""

    def __init__(self, max_fragments: int = MAX_FRAGMENT_MEMORY):
        self.max_fragments = max_fragments
        self._fragment_ports: dict[tuple, tuple[int, int]] = {}

    def decode(self, linktype: int, buf, off: int, caplen: int, origlen: int) -> Optional[Decoded]:
        end = off + caplen
        vlan = None
        if linktype == LINKTYPE_ETHERNET:
            if caplen < 14:
                raise DecodeError(f"ethernet frame of {caplen} bytes")
            (etype,) = _H(buf, off + 12)
            p = off + 14
            while etype in VLAN_TPIDS:
                if p + 4 > end:
                    raise DecodeError("truncated VLAN tag")
                tci, etype = _HH(buf, p)
                if vlan is None:
                    vlan = tci & 0x0FFF
                p += 4
            if etype == ETH_IPV4:
                version = 4
            elif etype == ETH_IPV6:
                version = 6
            else:
                return None
        elif linktype in RAW_LINKTYPES or linktype == LINKTYPE_IPV4 or linktype == LINKTYPE_IPV6:
            p = off
            if caplen < 1:
                raise DecodeError("empty raw IP frame")
            version = buf[p] >> 4
        elif linktype == LINKTYPE_LINUX_SLL:
            if caplen < 16:
                raise DecodeError(f"cooked frame of {caplen} bytes")
            (etype,) = _H(buf, off + 14)
            p = off + 16
            version = 4 if etype == ETH_IPV4 else 6 if etype == ETH_IPV6 else 0
        elif linktype == LINKTYPE_LINUX_SLL2:
            if caplen < 20:
                raise DecodeError(f"cooked v2 frame of {caplen} bytes")
            (etype,) = _H(buf, off)
            p = off + 20
            version = 4 if etype == ETH_IPV4 else 6 if etype == ETH_IPV6 else 0
        elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
            if caplen < 4:
                raise DecodeError(f"loopback frame of {caplen} bytes")
            # The family is in the capturing host's byte order; values are small either way.
            family = _NULL_LE(buf, off)[0]
            if family > 0xFFFF:
                family = _NULL_BE(buf, off)[0]
            p = off + 4
            version = 4 if family == BSD_AF_INET else 6 if family in BSD_AF_INET6 else 0
        else:
            return None
        if version == 4:
            return self._ipv4(buf, p, end, origlen - (p - off), vlan)
        if version == 6:
            return self._ipv6(buf, p, end, origlen - (p - off), vlan)
        return None

    def _ipv4(self, buf, p: int, end: int, wire_bytes: int, vlan):
        if p + 20 > end:
            raise DecodeError("truncated IPv4 header")
        vihl, total, ident, frag, proto = _IPV4(buf, p)
        if vihl >> 4 != 4:
            raise DecodeError(f"IP version {vihl >> 4} in an IPv4 frame")
        ihl = (vihl & 0x0F) * 4
        if ihl < 20:
            raise DecodeError(f"IPv4 header length {ihl}")
        if total < ihl or total > wire_bytes:
            raise DecodeError(f"IPv4 total length {total} (header {ihl}, frame {wire_bytes})")
        src = buf[p + 12:p + 16]
        dst = buf[p + 16:p + 20]
        ip_end = p + total
        offset = frag & 0x1FFF
        if offset or frag & 0x2000:
            key = (src, dst, proto, ident)
            if offset:
                sport, dport = self._fragment_ports.get(key, (0, 0))
                return 4, proto, src, dst, sport, dport, 0, total, 0, 0, vlan
            decoded = self._transport(buf, proto, p + ihl, ip_end, end, src, dst, 4, total, vlan,
                                      True)
            self._remember_fragment(key, decoded[4], decoded[5])
            return decoded
        return self._transport(buf, proto, p + ihl, ip_end, end, src, dst, 4, total, vlan)

    def _ipv6(self, buf, p: int, end: int, wire_bytes: int, vlan):
        if p + 40 > end:
            raise DecodeError("truncated IPv6 header")
        vtcfl, plen, nxt = _IPV6(buf, p)
        if vtcfl >> 28 != 6:
            raise DecodeError(f"IP version {vtcfl >> 28} in an IPv6 frame")
        total = 40 + plen
        if plen == 0 and nxt == 0:
            total = wire_bytes  # a jumbogram: the length lives in a hop-by-hop option
        if total > wire_bytes:
            raise DecodeError(f"IPv6 payload length {plen} (frame {wire_bytes})")
        src = buf[p + 8:p + 24]
        dst = buf[p + 24:p + 40]
        ip_end = p + total
        limit = ip_end if ip_end < end else end
        q = p + 40
        while True:
            if nxt in IPV6_EXT_8:
                if q + 2 > limit:
                    if ip_end > end:  # cut by the snap length, not corrupt
                        return 6, nxt, src, dst, 0, 0, 0, total, 0, 0, vlan
                    raise DecodeError(f"IPv6 extension header {nxt} past the packet")
                nxt, q = buf[q], q + (buf[q + 1] + 1) * 8
            elif nxt == IPV6_FRAGMENT:
                if q + 8 > limit:
                    if ip_end > end:
                        return 6, nxt, src, dst, 0, 0, 0, total, 0, 0, vlan
                    raise DecodeError("IPv6 fragment header past the packet")
                inner, offflags, ident = _IPV6_FRAG(buf, q)
                q += 8
                key = (src, dst, ident)
                if offflags >> 3:
                    sport, dport = self._fragment_ports.get(key, (0, 0))
                    return 6, inner, src, dst, sport, dport, 0, total, 0, 0, vlan
                decoded = self._transport(buf, inner, q, ip_end, end, src, dst, 6, total, vlan,
                                          bool(offflags & 1))
                if offflags & 1:
                    self._remember_fragment(key, decoded[4], decoded[5])
                return decoded
            elif nxt == IPV6_AH:
                if q + 2 > limit:
                    raise DecodeError("IPv6 AH header past the packet")
                nxt, q = buf[q], q + (buf[q + 1] + 2) * 4
            else:
                break
            if q > ip_end:
                raise DecodeError("IPv6 extension headers longer than the packet")
        return self._transport(buf, nxt, q, ip_end, end, src, dst, 6, total, vlan)

    @staticmethod
    def _transport(buf, proto: int, l4: int, ip_end: int, end: int, src, dst, version: int,
                   total: int, vlan, first_fragment: bool = False):
        cap_end = ip_end if ip_end < end else end
        if proto == PROTO_TCP:
            if l4 + 14 > cap_end:
                if l4 + 20 > ip_end:
                    raise DecodeError("TCP header past the IP packet")
                return version, proto, src, dst, 0, 0, 0, total, 0, 0, vlan
            sport, dport, offflags = _TCP(buf, l4)
            doff = (offflags >> 12) * 4
            if doff < 20 or l4 + doff > ip_end:
                raise DecodeError(f"TCP data offset {doff}")
            return (version, proto, src, dst, sport, dport, offflags & 0xFF, total,
                    l4 + doff, cap_end, vlan)
        if proto == PROTO_UDP:
            if l4 + 8 > cap_end:
                if l4 + 8 > ip_end:
                    raise DecodeError("UDP header past the IP packet")
                return version, proto, src, dst, 0, 0, 0, total, 0, 0, vlan
            sport, dport, ulen = _UDP(buf, l4)
            if ulen < 8 or l4 + ulen > ip_end:
                # 0: an IPv6 jumbogram's UDP length; a first fragment holds only part of it.
                if ulen != 0 and not (first_fragment and ulen >= 8):
                    raise DecodeError(f"UDP length {ulen} (IP payload {ip_end - l4})")
                ulen = ip_end - l4
            udp_end = l4 + ulen
            return (version, proto, src, dst, sport, dport, 0, total, l4 + 8,
                    udp_end if udp_end < cap_end else cap_end, vlan)
        return version, proto, src, dst, 0, 0, 0, total, 0, 0, vlan

    def _remember_fragment(self, key: tuple, sport: int, dport: int) -> None:
        ports = self._fragment_ports
        if len(ports) >= self.max_fragments:
            # Oldest first: dicts keep insertion order, and old datagrams are done with.
            del ports[next(iter(ports))]
        ports[key] = (sport, dport)
