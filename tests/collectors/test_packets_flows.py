"""Flow events from pcaps written by scapy: exact counters, flags, timeouts, eviction."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, Raw, fragment, wrpcap

from collectors.packets import pcap_events
from core.events import parse_ts

T0 = 1_700_000_000.0
CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def at(packet, secs):
    packet.time = T0 + secs
    return packet


def flows(events):
    return [e for e in events if e["event.dataset"] == "network.flow"]


def handshake_data_fin():
    c = ETH / IP(src=CLIENT, dst=SERVER)
    s = ETH / IP(src=SERVER, dst=CLIENT)
    return [
        at(c / TCP(sport=41000, dport=8080, flags="S", seq=1000), 0.0),
        at(s / TCP(sport=8080, dport=41000, flags="SA", seq=5000, ack=1001), 0.010),
        at(c / TCP(sport=41000, dport=8080, flags="A", seq=1001, ack=5001), 0.020),
        at(c / TCP(sport=41000, dport=8080, flags="PA", seq=1001, ack=5001) / Raw(b"x" * 300),
           0.030),
        at(s / TCP(sport=8080, dport=41000, flags="A", seq=5001, ack=1301), 0.040),
        at(s / TCP(sport=8080, dport=41000, flags="PA", seq=5001, ack=1301) / Raw(b"y" * 1000),
           0.050),
        at(c / TCP(sport=41000, dport=8080, flags="FA", seq=1301, ack=6001), 0.060),
        at(s / TCP(sport=8080, dport=41000, flags="FA", seq=6001, ack=1302), 0.070),
        at(c / TCP(sport=41000, dport=8080, flags="A", seq=1302, ack=6002), 0.080),
    ]


def test_tcp_handshake_data_fin_is_one_exact_flow(tmp_path):
    packets = handshake_data_fin()
    wrpcap(str(tmp_path / "conn.pcap"), packets)
    events = list(pcap_events(tmp_path / "conn.pcap"))
    [flow] = flows(events)
    client_bytes = sum(len(p[IP]) for p in packets if p[IP].src == CLIENT)
    server_bytes = sum(len(p[IP]) for p in packets if p[IP].src == SERVER)
    assert (client_bytes, server_bytes) == (40 * 5 + 300, 40 * 4 + 1000)
    assert flow["source.ip"] == CLIENT and flow["source.port"] == 41000
    assert flow["destination.ip"] == SERVER and flow["destination.port"] == 8080
    assert flow["network.transport"] == "tcp" and flow["network.type"] == "ipv4"
    assert (flow["source.packets"], flow["destination.packets"]) == (5, 4)
    assert (flow["source.bytes"], flow["destination.bytes"]) == (client_bytes, server_bytes)
    assert flow["network.packets"] == 9
    assert flow["network.bytes"] == client_bytes + server_bytes
    assert flow["shouwang.flow.tcp_flags"] == ["S", "SA", "A", "PA", "FA"]
    assert flow["event.duration"] == 80_000_000
    assert flow["event.start"] == "2023-11-14T22:13:20.000000Z"
    assert flow["event.end"] == "2023-11-14T22:13:20.080000Z"
    assert flow["@timestamp"] == flow["event.start"]
    assert flow["event.action"] == "flow_end"
    assert flow["shouwang.flow.end_reason"] == "tcp_close"
    assert flow["event.kind"] == "event" and flow["event.category"] == ["network"]
    assert flow["event.type"] == ["connection"]


def test_capture_starting_at_syn_ack_keeps_the_client_as_source(tmp_path):
    wrpcap(str(tmp_path / "mid.pcap"), handshake_data_fin()[1:])
    [flow] = flows(pcap_events(tmp_path / "mid.pcap"))
    assert flow["source.ip"] == CLIENT and flow["destination.port"] == 8080


def test_syn_scan_gives_half_open_and_rejected_flows(tmp_path):
    packets = []
    for i, port in enumerate(range(20, 120)):
        packets.append(at(ETH / IP(src=CLIENT, dst=SERVER) / TCP(sport=55555, dport=port,
                                                                 flags="S"), i * 0.001))
        if port % 2:  # closed ports answer with RST+ACK, filtered ones stay silent
            packets.append(at(ETH / IP(src=SERVER, dst=CLIENT) / TCP(
                sport=port, dport=55555, flags="RA"), i * 0.001 + 0.0005))
    wrpcap(str(tmp_path / "scan.pcap"), packets)
    scan = flows(pcap_events(tmp_path / "scan.pcap"))
    assert len(scan) == 100
    assert {f["source.ip"] for f in scan} == {CLIENT}
    half_open = [f for f in scan if f["shouwang.flow.tcp_flags"] == ["S"]]
    rejected = [f for f in scan if f["shouwang.flow.tcp_flags"] == ["S", "RA"]]
    assert len(half_open) == 50 and len(rejected) == 50
    assert all(f["destination.port"] % 2 == 0 and f["network.packets"] == 1 for f in half_open)
    assert all(f["shouwang.flow.end_reason"] == "tcp_close" for f in rejected)
    assert all(f["shouwang.flow.end_reason"] == "end_of_capture" for f in half_open)


def test_flow_table_overflow_evicts_least_recent_and_counts(tmp_path):
    packets = [at(ETH / IP(src=CLIENT, dst=SERVER) / UDP(sport=10000 + i, dport=9999), i * 0.01)
               for i in range(20)]
    wrpcap(str(tmp_path / "many.pcap"), packets)
    events = flows(pcap_events(tmp_path / "many.pcap", max_flows=5))
    evicted = [f for f in events if f["shouwang.flow.end_reason"] == "evicted"]
    assert len(evicted) == 15
    assert [f["source.port"] for f in evicted] == list(range(10000, 10015))
    assert len(events) == 20  # nothing lost: evicted flows are exported early, not dropped
    assert all(f["event.action"] == "flow_end" for f in evicted)


def test_idle_and_active_timeouts_follow_packet_time(tmp_path):
    udp = ETH / IP(src=CLIENT, dst=SERVER) / UDP(sport=5000, dport=6000)
    packets = [at(udp.copy(), 0), at(udp.copy(), 1)]           # idle 30 s after t=1
    packets += [at(udp.copy(), 100 + i) for i in range(0, 25)]  # one packet/s for 25 s
    packets.append(at(ETH / IP(src=CLIENT, dst=SERVER) / ICMP(), 200))
    wrpcap(str(tmp_path / "time.pcap"), packets)
    events = flows(pcap_events(tmp_path / "time.pcap", idle_timeout_secs=30,
                               active_timeout_secs=10))
    udp_flows = [f for f in events if f["network.transport"] == "udp"]
    reasons = [f["shouwang.flow.end_reason"] for f in udp_flows]
    assert reasons == ["idle_timeout", "active_timeout", "active_timeout", "idle_timeout"]
    assert [f["network.packets"] for f in udp_flows] == [2, 10, 10, 5]
    assert udp_flows[0]["event.action"] == "flow_timeout"
    assert udp_flows[0]["event.duration"] == 1_000_000_000
    # Exported by event time, when the idle timeout passed, not at the end of the file.
    assert parse_ts(udp_flows[1]["event.start"]) == T0 + 100
    assert parse_ts(udp_flows[3]["event.end"]) == T0 + 124
    [icmp] = [f for f in events if f["network.transport"] == "icmp"]
    assert "source.port" not in icmp and icmp["network.iana_number"] == "1"


def test_fragments_count_towards_their_flow(tmp_path):
    big = ETH / IP(src=CLIENT, dst=SERVER, id=77) / UDP(sport=4000, dport=4001) / Raw(b"z" * 3000)
    frags = [at(ETH / f, 0.001 * i) for i, f in enumerate(fragment(big[IP], fragsize=1000))]
    wrpcap(str(tmp_path / "frag.pcap"), frags)
    [flow] = flows(pcap_events(tmp_path / "frag.pcap"))
    assert flow["source.port"] == 4000 and flow["network.packets"] == len(frags) >= 3
    assert flow["network.bytes"] == sum(len(f[IP]) for f in frags)


def test_community_id_matches_wireshark(tmp_path):
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (Debian package: tshark)")
    packets = handshake_data_fin()[:2] + [
        at(ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1234, dport=53), 1)]
    wrpcap(str(tmp_path / "cid.pcap"), packets)
    ours = {f["network.community_id"] for f in flows(pcap_events(tmp_path / "cid.pcap"))}
    result = subprocess.run([tshark, "-r", str(tmp_path / "cid.pcap"), "--enable-protocol",
                             "communityid", "-T", "fields", "-e", "communityid"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert ours == set(result.stdout.split())
