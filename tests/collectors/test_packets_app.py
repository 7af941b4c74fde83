"""DNS, HTTP and TLS events read from packet payloads (pcaps written by scapy)."""
from __future__ import annotations

import struct

from scapy.all import DNS, DNSQR, DNSRR, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap
from scapy.layers.tls.extensions import ServerName, TLS_Ext_ServerName, TLS_Ext_SupportedVersion_CH
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.record import TLS

from collectors.packets import pcap_events

T0 = 1_700_000_000.0
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def events_of(tmp_path, packets, dataset, **options):
    for i, packet in enumerate(packets):
        packet.time = T0 + i * 0.01
    wrpcap(str(tmp_path / "app.pcap"), packets)
    return [e for e in pcap_events(tmp_path / "app.pcap", **options)
            if e["event.dataset"] == dataset]


def test_dns_query_and_answer(tmp_path):
    query = DNS(id=4242, rd=1, qd=DNSQR(qname="www.cnipa.gov.cn", qtype="A"))
    answer = DNS(id=4242, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.cnipa.gov.cn", qtype="A"),
                 an=[DNSRR(rrname="www.cnipa.gov.cn", type="CNAME", rdata="edge.example.cn",
                           ttl=300),
                     DNSRR(rrname="edge.example.cn", type="A", rdata="203.0.113.7", ttl=60)])
    nx = DNS(id=7, qr=1, rcode=3, qd=DNSQR(qname="nope.example.cn", qtype="AAAA"))
    packets = [ETH / IP(src="10.0.0.5", dst="10.0.0.53") / UDP(sport=33333, dport=53) / query,
               ETH / IP(src="10.0.0.53", dst="10.0.0.5") / UDP(sport=53, dport=33333) / answer,
               ETH / IPv6(src="2001:db8::53", dst="2001:db8::5") / UDP(sport=53, dport=4444) / nx]
    q, a, n = events_of(tmp_path, packets, "network.dns")
    assert q["dns.type"] == "query" and q["dns.id"] == "4242"
    assert q["dns.question.name"] == "www.cnipa.gov.cn" and q["dns.question.type"] == "A"
    assert q["source.ip"] == "10.0.0.5" and q["destination.port"] == 53
    assert q["network.protocol"] == "dns" and q["network.transport"] == "udp"
    assert "dns.response_code" not in q
    assert a["dns.type"] == "answer" and a["dns.response_code"] == "NOERROR"
    assert a["dns.answers"] == [
        {"name": "www.cnipa.gov.cn", "type": "CNAME", "class": "IN", "ttl": 300,
         "data": "edge.example.cn"},
        {"name": "edge.example.cn", "type": "A", "class": "IN", "ttl": 60,
         "data": "203.0.113.7"}]
    assert a["dns.resolved_ip"] == ["203.0.113.7"]
    assert a["@timestamp"] == "2023-11-14T22:13:20.010000Z"
    assert n["dns.response_code"] == "NXDOMAIN" and n["dns.question.type"] == "AAAA"
    assert n["network.type"] == "ipv6"


def test_dns_garbage_and_pointer_loops_yield_nothing(tmp_path):
    loop = struct.pack("!HHHHHH", 1, 0x8100, 1, 1, 0, 0) + b"\xc0\x0c" + b"\0\x01\0\x01"
    packets = [ETH / IP(src="10.0.0.5", dst="10.0.0.53") / UDP(sport=1000, dport=53) / Raw(b"x"),
               ETH / IP(src="10.0.0.53", dst="10.0.0.5") / UDP(sport=53, dport=1000) / Raw(loop)]
    assert events_of(tmp_path, packets, "network.dns") == []


def test_http_get_with_host_and_user_agent(tmp_path):
    request = (b"GET /patent/search?q=5G HTTP/1.1\r\nHost: pss.cnipa.gov.cn:8080\r\n"
               b"User-Agent: Mozilla/5.0 (X11)\r\nAccept: */*\r\n\r\n")
    post = b"POST http://proxy.example.cn/login HTTP/1.0\r\nHost: proxy.example.cn\r\n\r\nu=1"
    up = ETH / IP(src="10.0.0.9", dst="10.0.0.80")
    packets = [up / TCP(sport=45000, dport=8080, flags="PA") / Raw(request),
               up / TCP(sport=45001, dport=80, flags="PA") / Raw(post),
               up / TCP(sport=45002, dport=80, flags="PA") / Raw(b"GETTING things\r\n")]
    get, post_event = events_of(tmp_path, packets, "network.http")
    assert get["http.request.method"] == "GET" and get["http.version"] == "1.1"
    assert get["url.original"] == "/patent/search?q=5G"
    assert get["url.path"] == "/patent/search" and get["url.query"] == "q=5G"
    assert get["url.domain"] == "pss.cnipa.gov.cn" and get["url.port"] == 8080
    assert get["user_agent.original"] == "Mozilla/5.0 (X11)"
    assert get["source.port"] == 45000 and get["destination.ip"] == "10.0.0.80"
    assert post_event["http.request.method"] == "POST"
    assert post_event["url.domain"] == "proxy.example.cn" and post_event["url.path"] == "/login"


def test_tls_client_hello_server_name(tmp_path):
    hello = TLS(msg=[TLSClientHello(ext=[
        TLS_Ext_ServerName(servernames=[ServerName(servername=b"cpquery.cnipa.gov.cn")]),
        TLS_Ext_SupportedVersion_CH(versions=[0x0304, 0x0303])])])
    packets = [ETH / IPv6(src="2001:db8::9", dst="2001:db8::443")
               / TCP(sport=50000, dport=443, flags="PA") / Raw(bytes(hello)),
               ETH / IP(src="10.0.0.9", dst="10.0.0.80")
               / TCP(sport=50001, dport=443, flags="PA") / Raw(b"\x16\x03\x01\x00\x05\x01junk")]
    [tls] = events_of(tmp_path, packets, "network.tls")
    assert tls["tls.client.server_name"] == "cpquery.cnipa.gov.cn"
    assert tls["tls.version"] == "1.3"
    assert tls["network.protocol"] == "tls" and tls["network.type"] == "ipv6"
    assert tls["destination.port"] == 443


def test_protocols_can_be_switched_off(tmp_path):
    packets = [ETH / IP(src="10.0.0.5", dst="10.0.0.53") / UDP(sport=1, dport=53)
               / DNS(qd=DNSQR(qname="a.cn"))]
    assert events_of(tmp_path, packets, "network.dns", protocols=("http",)) == []
