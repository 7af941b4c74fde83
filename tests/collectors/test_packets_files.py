"""Capture files: pcap (us/ns, both byte orders), pcapng, damage, and the decoder's layers."""
from __future__ import annotations

import struct

from scapy.all import (IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PcapNgWriter, PcapWriter, Raw,
                       wrpcap)

from collectors.packets import pcap_events
from collectors.packets.pcapfile import read_capture

T0 = 1_700_000_000.0
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def udp_packets(count, *, sport=3000):
    packets = []
    for i in range(count):
        packet = ETH / IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=sport + i, dport=7) \
            / Raw(b"p" * 20)
        packet.time = T0 + i
        packets.append(packet)
    return packets


def split(events):
    events = list(events)
    errors = [e for e in events if e["event.kind"] == "pipeline_error"]
    return [e for e in events if e["event.dataset"] == "network.flow"], errors


def records(path):
    errors = []
    found = [(ts, linktype, bytes(buf[off:off + caplen]), origlen)
             for ts, linktype, buf, off, caplen, origlen in read_capture(
                 path, lambda reason, offset: errors.append((reason, offset)))]
    return found, errors


def test_pcap_microsecond_and_nanosecond_both_byte_orders(tmp_path):
    packets = udp_packets(3)
    packets[1].time = T0 + 1.5
    wrpcap(str(tmp_path / "us.pcap"), packets)
    with PcapWriter(str(tmp_path / "ns.pcap"), nano=True) as writer:
        writer.write(packets)
    with PcapWriter(str(tmp_path / "be.pcap"), endianness=">") as writer:
        writer.write(packets)
    for name in ("us.pcap", "ns.pcap", "be.pcap"):
        found, errors = records(tmp_path / name)
        assert errors == []
        assert [ts for ts, *_ in found] == [1_700_000_000_000_000_000, 1_700_000_001_500_000_000,
                                            1_700_000_002_000_000_000]
        assert [frame for _, _, frame, _ in found] == [bytes(p) for p in packets]


def ng_block(block_type, body):
    body += b"\0" * ((-len(body)) % 4)
    return struct.pack("<II", block_type, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def ng_section(*interfaces):
    """A section header and one interface block per (linktype, tsresol or None)."""
    data = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype, tsresol in interfaces:
        options = struct.pack("<HHB3x", 9, 1, tsresol) if tsresol is not None else b""
        data += ng_block(1, struct.pack("<HHI", linktype, 0, 65535) + options + b"\0" * 4)
    return data


def ng_packet(interface, ticks, frame):
    return ng_block(6, struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF,
                                   len(frame), len(frame)) + frame)


def test_pcapng_with_two_interfaces_and_linktypes(tmp_path):
    eth = bytes(udp_packets(1)[0])
    raw = bytes(IP(src="10.2.2.2", dst="10.2.2.3") / UDP(sport=9, dport=9))
    us = 1_700_000_000_000_000
    data = ng_section((1, None), (101, None)) + ng_packet(0, us, eth) + ng_packet(1, us + 5, raw)
    data += ng_block(5, struct.pack("<III", 0, 0, 0))  # statistics block: skipped
    (tmp_path / "two.pcapng").write_bytes(data)
    found, errors = records(tmp_path / "two.pcapng")
    assert errors == []
    assert [(ts, linktype, frame) for ts, linktype, frame, _ in found] == [
        (us * 1000, 1, eth), ((us + 5) * 1000, 101, raw)]
    flows, errors = split(pcap_events(tmp_path / "two.pcapng"))
    assert errors == []
    assert sorted(f["source.ip"] for f in flows) == ["10.1.1.1", "10.2.2.2"]


def test_pcapng_nanosecond_resolution_option(tmp_path):
    frame = bytes(udp_packets(1)[0])
    ts = 1_700_000_000_123_456_789
    (tmp_path / "ns.pcapng").write_bytes(ng_section((1, 9)) + ng_packet(0, ts, frame))
    found, errors = records(tmp_path / "ns.pcapng")
    assert errors == [] and found[0][0] == ts and found[0][2] == frame


def test_truncated_pcap_keeps_whole_records_and_reports(tmp_path):
    wrpcap(str(tmp_path / "full.pcap"), udp_packets(5))
    data = (tmp_path / "full.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:-10])  # cut inside the last packet
    events = list(pcap_events(tmp_path / "cut.pcap"))
    flows, errors = split(events)
    assert len(flows) == 4
    [error] = errors
    assert error["shouwang.stage"] == "read" and "truncated packet" in error["error.message"]
    assert error["file.path"] == str(tmp_path / "cut.pcap")


def test_truncated_pcapng_and_garbage_files(tmp_path):
    with PcapNgWriter(str(tmp_path / "full.pcapng")) as writer:
        writer.write(udp_packets(3))
    data = (tmp_path / "full.pcapng").read_bytes()
    (tmp_path / "cut.pcapng").write_bytes(data[:-7])
    flows, errors = split(pcap_events(tmp_path / "cut.pcapng"))
    assert len(flows) == 2 and "truncated block" in errors[0]["error.message"]
    (tmp_path / "junk.pcap").write_bytes(b"this is not a capture file at all")
    (tmp_path / "empty.pcap").write_bytes(b"")
    for name in ("junk.pcap", "empty.pcap", "missing.pcap"):
        flows, errors = split(pcap_events(tmp_path / name))
        assert flows == [] and len(errors) == 1, name


def test_record_with_bogus_length_is_skipped_and_reading_resumes(tmp_path):
    wrpcap(str(tmp_path / "full.pcap"), udp_packets(6))
    data = bytearray((tmp_path / "full.pcap").read_bytes())
    record = 16 + len(bytes(udp_packets(1)[0]))
    third = 24 + 2 * record
    struct.pack_into("<I", data, third + 8, 0x7FFFFFF0)   # caplen of packet 3: 2 GiB
    (tmp_path / "bogus.pcap").write_bytes(bytes(data))
    flows, errors = split(pcap_events(tmp_path / "bogus.pcap"))
    assert sorted(f["source.port"] for f in flows) == [3000, 3001, 3003, 3004, 3005]
    assert len(errors) == 1 and "impossible length" in errors[0]["error.message"]


def test_pcapng_block_with_bogus_length_resyncs(tmp_path):
    with PcapNgWriter(str(tmp_path / "full.pcapng")) as writer:
        writer.write(udp_packets(4))
    data = bytearray((tmp_path / "full.pcapng").read_bytes())
    first_epb = data.find(struct.pack("<I", 6))
    struct.pack_into("<I", data, first_epb + 4, 0x00FFFFF0)
    (tmp_path / "bogus.pcapng").write_bytes(bytes(data))
    flows, errors = split(pcap_events(tmp_path / "bogus.pcapng"))
    assert sorted(f["source.port"] for f in flows) == [3001, 3002, 3003]
    assert len(errors) == 1


def test_packets_with_corrupt_header_lengths_are_counted_not_fatal(tmp_path):
    good = udp_packets(2)
    bad_total = ETH / IP(src="10.1.1.1", dst="10.1.1.2", len=4000) / UDP(sport=1, dport=2)
    bad_ihl = ETH / IP(src="10.1.1.1", dst="10.1.1.2", ihl=3) / UDP(sport=1, dport=2)
    bad_tcp = ETH / IP(src="10.1.1.1", dst="10.1.1.2") / TCP(sport=1, dport=2, dataofs=15)
    bad_udp = ETH / IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=1, dport=2, len=3)
    bad_v6 = ETH / IPv6(src="::1", dst="::2", plen=9000) / UDP(sport=1, dport=2)
    short = Raw(bytes(ETH)[:10])
    broken = [bad_total, bad_ihl, bad_tcp, bad_udp, bad_v6, short]
    for i, packet in enumerate(broken):
        packet.time = T0 + 10 + i
    wrpcap(str(tmp_path / "corrupt.pcap"), good + broken)
    flows, errors = split(pcap_events(tmp_path / "corrupt.pcap"))
    assert len(flows) == 2
    assert len(errors) == len(broken)
    assert all(e["shouwang.stage"] == "decode" for e in errors)
    assert [e["shouwang.packet.number"] for e in errors] == [3, 4, 5, 6, 7, 8]


def test_ipv6_extension_headers_and_vlan_tags(tmp_path):
    base = IPv6(src="2001:db8::a", dst="2001:db8::b")
    packets = [
        ETH / base / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=["2001:db8::c"])
        / IPv6ExtHdrDestOpt() / TCP(sport=1111, dport=22, flags="S"),
        ETH / base / IPv6ExtHdrFragment(offset=0, m=0, id=5) / UDP(sport=2222, dport=123),
        ETH / Dot1Q(vlan=42) / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=3333, dport=514),
        ETH / Dot1Q(vlan=42) / base / IPv6ExtHdrDestOpt() / UDP(sport=4444, dport=53)
        / Raw(b"\0" * 4),
    ]
    for i, packet in enumerate(packets):
        packet.time = T0 + i
    wrpcap(str(tmp_path / "ext.pcap"), packets)
    flows, errors = split(pcap_events(tmp_path / "ext.pcap"))
    assert errors == []
    by_port = {f["source.port"]: f for f in flows}
    assert by_port[1111]["network.transport"] == "tcp"
    assert by_port[1111]["destination.port"] == 22
    assert by_port[1111]["shouwang.flow.tcp_flags"] == ["S"]
    assert by_port[1111]["network.type"] == "ipv6"
    assert by_port[1111]["network.bytes"] == len(packets[0][IPv6])
    assert by_port[2222]["destination.port"] == 123
    assert by_port[3333]["network.vlan.id"] == "42"   # the outer tag
    assert by_port[4444]["network.vlan.id"] == "42" and by_port[4444]["network.type"] == "ipv6"
    assert "network.vlan.id" not in by_port[1111]


def test_ipv6_fragments_take_their_first_fragments_ports(tmp_path):
    payload = UDP(sport=5555, dport=6666) / Raw(b"f" * 100)
    raw = bytes(payload)
    base = ETH / IPv6(src="2001:db8::1", dst="2001:db8::2")
    first = base / IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=99) / Raw(raw[:56])
    second = base / IPv6ExtHdrFragment(nh=17, offset=7, m=0, id=99) / Raw(raw[56:])
    first.time, second.time = T0, T0 + 0.001
    wrpcap(str(tmp_path / "frag6.pcap"), [first, second])
    [flow], errors = split(pcap_events(tmp_path / "frag6.pcap"))
    assert errors == []
    assert flow["source.port"] == 5555 and flow["network.packets"] == 2


def test_randomly_damaged_files_never_raise(tmp_path):
    import random

    from scapy.all import DNS, DNSQR

    packets = []
    for i in range(40):
        up = ETH / IP(src="10.5.0.1", dst="10.5.0.2")
        packets += [up / UDP(sport=2000 + i, dport=53) / DNS(qd=DNSQR(qname=f"h{i}.cn")),
                    up / TCP(sport=3000 + i, dport=80, flags="PA")
                    / Raw(b"GET / HTTP/1.1\r\nHost: a.cn\r\n\r\n"),
                    ETH / IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop()
                    / TCP(sport=4000 + i, dport=443, flags="PA") / Raw(b"\x16\x03\x01" + b"\0" * 60)]
    for i, packet in enumerate(packets):
        packet.time = T0 + i * 0.01
    wrpcap(str(tmp_path / "base.pcap"), packets)
    with PcapNgWriter(str(tmp_path / "base.pcapng")) as writer:
        writer.write(packets)
    rng = random.Random(7)
    for name in ("base.pcap", "base.pcapng"):
        original = (tmp_path / name).read_bytes()
        for round_ in range(120):
            damaged = bytearray(original)
            for _ in range(rng.randint(1, 40)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            if round_ % 4 == 0:
                damaged = damaged[:rng.randrange(len(damaged))]
            (tmp_path / "damaged").write_bytes(bytes(damaged))
            for event in pcap_events(tmp_path / "damaged"):
                assert event["event.kind"] in ("event", "pipeline_error")
