"""DNS tunnelling and NXDOMAIN bursts from a real capture through `shouwang detect`; ordinary
browsing lookups (CDNs, long English names, repeated names, reverse lookups) stay quiet."""
from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from scapy.all import DNS, DNSQR, IP, UDP, Ether, wrpcap

import cli.main
from detectors.dns_tunnel import registered_domain

T0 = 1_795_600_800.0
CLIENT, RESOLVER = "10.1.2.3", "10.0.0.53"
ETHER = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def query(t, name, *, client=CLIENT, rcode=None, qid=1):
    """A query, and an answer with `rcode` when given (3 = NXDOMAIN)."""
    sport = 30000 + qid % 30000
    packets = [Ether(**ETHER) / IP(src=client, dst=RESOLVER) / UDP(sport=sport, dport=53)
               / DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype="TXT"))]
    packets[0].time = T0 + t
    if rcode is not None:
        answer = Ether(**ETHER) / IP(src=RESOLVER, dst=client) / UDP(sport=53, dport=sport) \
            / DNS(id=qid, qr=1, rcode=rcode, qd=DNSQR(qname=name, qtype="TXT"))
        answer.time = T0 + t + 0.001
        packets.append(answer)
    return packets


@pytest.fixture
def detect(capsys, tmp_path):
    def run(packets):
        path = tmp_path / "dns.pcap"
        wrpcap(str(path), sorted(packets, key=lambda p: p.time))
        code = cli.main.main(["detect", str(path), "--rule", "dns-tunnel",
                              "--rule", "dns-nxdomain-burst"])
        out, _ = capsys.readouterr()
        return code, [json.loads(line) for line in out.splitlines()]
    return run


def test_hex_chunks_under_one_domain_are_a_tunnel(detect):
    packets = []
    for n in range(12):
        chunk = hashlib.sha1(f"exfil {n}".encode()).hexdigest()  # dnscat2-style hex labels
        packets += query(n * 0.5, f"{chunk}.{n}.t.c2-example.net", qid=n)
    code, findings = detect(packets)
    assert code == 1 and len(findings) == 1
    finding = findings[0]
    assert finding["rule.id"] == "dns-tunnel"
    assert finding["dns.question.registered_domain"] == "c2-example.net"
    assert finding["source.ip"] == CLIENT
    assert finding["threat.technique.subtechnique.id"] == "T1071.004"
    assert finding["shouwang.dns.tunnel_signal"] == "random_labels"


def test_base32_labels_are_a_tunnel(detect):
    packets = []
    for n in range(12):
        label = base64.b32encode(hashlib.md5(f"{n}".encode()).digest()).decode().rstrip("=")
        packets += query(n, f"{label.lower()}.iodine-example.com.cn", qid=n)
    _, findings = detect(packets)
    assert [f["dns.question.registered_domain"] for f in findings] == ["iodine-example.com.cn"]


def test_nxdomain_burst_from_a_dga(detect):
    rnd = random.Random(5)
    packets = []
    for n in range(40):
        name = "".join(rnd.choice("bcdfghjklmnpqrstvwxz") for _ in range(14)) + ".info"
        packets += query(n * 0.5, name, client="10.1.2.9", rcode=3, qid=100 + n)
    _, findings = detect(packets)
    assert [(f["rule.id"], f["destination.ip"]) for f in findings] == \
        [("dns-nxdomain-burst", "10.1.2.9")]


def test_browsing_lookups_are_quiet(detect):
    names = ["www.cnipa.gov.cn", "pss-system.cponline.cnipa.gov.cn", "e6858.dscx.akamaiedge.net",
             "internationalbusinessmachinescorporation.example.com", "fonts.gstatic.com",
             "my-loadbalancer-1234567890.us-west-2.elb.amazonaws.com", "www.baidu.com",
             "7.2.0.192.in-addr.arpa", "a1b2c3d4e5f6a7b8c9d0.cloudfront.net"]
    packets = []
    for n in range(300):  # each name looked up again and again, some typos
        name = names[n % len(names)]
        packets += query(n * 0.2, name, qid=n, rcode=0)
    for n in range(5):
        packets += query(70 + n, f"typo{n}.cnipa.gov.cn", qid=900 + n, rcode=3)
    code, findings = detect(packets)
    assert (code, findings) == (0, [])


@pytest.mark.parametrize("name, domain", [
    ("a.b.example.com", "example.com"), ("x.example.com.cn", "example.com.cn"),
    ("www.gov.cn", "www.gov.cn"), ("a.b.co.uk", "b.co.uk"), ("com", None)])
def test_registered_domain(name, domain):
    assert registered_domain(name) == domain
