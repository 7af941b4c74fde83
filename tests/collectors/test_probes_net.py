"""tcp, dns and icmp probes against real local peers on 127.0.0.1 and ::1: a TCP echo-ish
service, a tiny DNS responder (UDP socket in the test), and the kernel's echo replies."""
import asyncio
import os
import struct

import pytest
from prometheus_client import CollectorRegistry

from collectors.probes.dns import build_query, parse_header
from collectors.probes.settings import ProbesSettings
from collectors.probes.source import SPEC
from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.registry import Registry

HOSTS = {"4": ("127.0.0.1", "127.0.0.1"), "6": ("::1", "[::1]")}


async def run_one(tmp_path, target):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="mon-1")
    settings = ProbesSettings.model_validate({"type": "probes", "targets": [target]})
    source = SPEC.build("probes", settings, ctx)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    result = await source.probe(settings.targets[0], pipeline.emitter("probes"))
    labels = {"target": target["target"], "module": target["module"]}

    def value(name, **extra):
        return registry.get_sample_value(name, {**labels, **extra})
    [event] = [e for item in pipeline.queue._items for e in item.events]
    return result, value, event


@pytest.fixture
async def smtp_like():
    """Greets with a banner, answers 'PING' with 'PONG', on both families."""
    async def handle(reader, writer):
        writer.write(b"220 mail.example ESMTP ready\r\n")
        line = await reader.readline()
        if line.strip() == b"PING":
            writer.write(b"PONG\r\n")
        await writer.drain()
        writer.close()

    servers = {family: await asyncio.start_server(handle, host, 0)
               for family, (host, _) in HOSTS.items()}
    yield {family: f"{HOSTS[family][1]}:{server.sockets[0].getsockname()[1]}"
           for family, server in servers.items()}
    for server in servers.values():
        server.close()


@pytest.mark.parametrize("family", ["4", "6"])
async def test_tcp_connect_send_and_expect(tmp_path, smtp_like, family):
    address = smtp_like[family]
    result, value, event = await run_one(tmp_path, {"module": "tcp", "target": address})
    assert result.success and value("probe_ip_protocol") == int(family)
    result, value, event = await run_one(tmp_path, {
        "module": "tcp", "target": address, "tcp": {"send": "PING\r\n", "expect": "PONG"}})
    assert result.success, result.reason
    assert value("probe_failed_due_to_regex") == 0
    assert event["destination.port"] == int(address.rsplit(":", 1)[1])
    result, value, event = await run_one(tmp_path, {
        "module": "tcp", "target": address, "tcp": {"send": "HELO\r\n", "expect": "^250 "}})
    assert result.reason == ("answer did not match '^250 ': "
                             "b'220 mail.example ESMTP ready\\r\\n'")
    assert value("probe_failed_due_to_regex") == 1 and value("probe_success") == 0
    assert event["event.outcome"] == "failure"


async def test_tcp_refused_port_fails_with_the_reason(tmp_path):
    for target in ("127.0.0.1:1", "[::1]:1"):
        result, value, event = await run_one(tmp_path, {"module": "tcp", "target": target})
        assert result.reason == "connection refused"
        assert event["error.message"] == "connection refused"


class Responder(asyncio.DatagramProtocol):
    """A tiny DNS server: portal.example has two A / one AAAA record, missing.example is
    NXDOMAIN, slow.example never answers, spoof.example first gets a wrong-id answer."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        query_id, _, _, _, _, _ = parse_header(data)
        question = data[12:]
        name_end = question.index(b"\x00") + 1
        labels, pos = [], 0
        while question[pos]:
            labels.append(question[pos + 1:pos + 1 + question[pos]].decode())
            pos += 1 + question[pos]
        name = ".".join(labels)
        qtype = struct.unpack("!H", question[name_end:name_end + 2])[0]
        question = question[:name_end + 4]
        if name == "slow.example":
            return
        if name == "missing.example":
            self.answer(addr, query_id, 3, question, [])
            return
        if name == "spoof.example":
            self.answer(addr, (query_id + 1) % 65536, 3, question, [])
        records = [bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])] if qtype == 1 else \
            [bytes(15) + b"\x01"]
        self.answer(addr, query_id, 0, question, records)

    def answer(self, addr, query_id, rcode, question, rdatas):
        qtype = question[-4:-2]
        answers = b"".join(b"\xc0\x0c" + qtype + b"\x00\x01" + struct.pack("!IH", 60, len(r)) + r
                           for r in rdatas)
        header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(rdatas), 0, 0)
        self.transport.sendto(header + question + answers, addr)


@pytest.fixture
async def dns_server():
    loop = asyncio.get_running_loop()
    transports, addresses = [], {}
    for family, (host, shown) in HOSTS.items():
        transport, _ = await loop.create_datagram_endpoint(Responder, local_addr=(host, 0))
        transports.append(transport)
        addresses[family] = f"{shown}:{transport.get_extra_info('sockname')[1]}"
    yield addresses
    for transport in transports:
        transport.close()


@pytest.mark.parametrize("family", ["4", "6"])
async def test_dns_answers_counts_and_rcode(tmp_path, dns_server, family):
    server = dns_server[family]
    result, value, event = await run_one(tmp_path, {
        "module": "dns", "target": "portal.example", "dns": {"server": server}})
    assert result.success, result.reason
    assert value("probe_dns_answer_rrs") == 2
    assert value("probe_dns_query_succeeded") == 1
    assert value("probe_ip_protocol") == int(family)
    assert 0 < value("probe_dns_duration_seconds", phase="request") < 1
    assert event["dns.response_code"] == "NOERROR"
    result, value, _ = await run_one(tmp_path, {
        "module": "dns", "target": "portal.example",
        "dns": {"server": server, "query_type": "AAAA"}})
    assert value("probe_dns_answer_rrs") == 1


async def test_dns_nxdomain_timeout_and_spoofed_answers(tmp_path, dns_server):
    server = dns_server["4"]
    result, value, event = await run_one(tmp_path, {
        "module": "dns", "target": "missing.example", "dns": {"server": server}})
    assert result.reason == "rcode NXDOMAIN is not valid"
    assert value("probe_dns_query_succeeded") == 0
    result, _, _ = await run_one(tmp_path, {
        "module": "dns", "target": "missing.example",
        "dns": {"server": server, "valid_rcodes": ["NOERROR", "NXDOMAIN"]}})
    assert result.success
    result, value, event = await run_one(tmp_path, {
        "module": "dns", "target": "slow.example", "timeout_secs": 0.3,
        "dns": {"server": dns_server["6"]}})
    assert result.reason == "timed out after 0.3s"
    assert event["event.outcome"] == "failure"
    result, value, _ = await run_one(tmp_path, {
        "module": "dns", "target": "spoof.example", "dns": {"server": server}})
    assert result.success and value("probe_dns_answer_rrs") == 2
    result, _, _ = await run_one(tmp_path, {
        "module": "dns", "target": "portal.example", "timeout_secs": 0.5,
        "dns": {"server": "127.0.0.1:9"}})
    assert result.reason in ("connection refused", "timed out after 0.5s")


def test_dns_query_wire_format():
    query = build_query(0x1234, "www.cnipa.gov.cn", "AAAA")
    assert query == (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                     b"\x03www\x05cnipa\x03gov\x02cn\x00\x00\x1c\x00\x01")
    with pytest.raises(ValueError):
        build_query(1, "a..b", "A")


needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="ICMP echo needs a raw socket: run as root")


@needs_root
@pytest.mark.root
@pytest.mark.parametrize("family", ["4", "6"])
async def test_icmp_echo_to_loopback(tmp_path, family):
    host = HOSTS[family][0]
    result, value, event = await run_one(tmp_path, {"module": "icmp", "target": host})
    assert result.success, result.reason
    assert value("probe_ip_protocol") == int(family)
    assert 0 < value("probe_icmp_duration_seconds", phase="rtt") < 0.5
    assert value("probe_icmp_reply_hop_limit") == 64
    assert event["destination.ip"] == host


@needs_root
@pytest.mark.root
async def test_icmp_wrong_family_fails(tmp_path):
    result, value, _ = await run_one(tmp_path, {"module": "icmp", "target": "127.0.0.1",
                                                "ip_protocol": "ip6"})
    assert result.reason == "127.0.0.1 is not an IPv6 address"
