"""Live capture (AF_PACKET + kernel BPF): real traffic on `lo`, and 2,000 frames through a
veth pair into a network namespace this test creates. Needs root; skipped otherwise."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess

import pytest
from scapy.all import DNS, DNSQR, IP, UDP, Ether, Raw

from collectors.packets.source import SPEC, PacketsSettings
from collectors.packets.veth import VethPair
from core.pipeline import Pipeline
from tests.collectors.test_packets_source import ListSink, context

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                       reason="live capture needs root (AF_PACKET sockets, network namespaces)"),
]


async def start_capture(tmp_path, settings: dict):
    ctx = context(tmp_path)
    registry = ctx.registry
    source = SPEC.build("live", PacketsSettings.model_validate(
        {"type": "packets", **settings}), ctx)
    sink = ListSink()
    pipeline = Pipeline(sources=[source], sinks=[sink], metrics=ctx.metrics,
                        batch_max_wait_secs=0.02)
    await pipeline.start()
    task = pipeline.states["live"].task
    await asyncio.wait([task, asyncio.ensure_future(source.ready.wait())], timeout=10,
                       return_when=asyncio.FIRST_COMPLETED)
    assert source.ready.is_set(), pipeline.states["live"].error
    return pipeline, sink, registry


async def wait_for(predicate, secs=10.0):
    for _ in range(int(secs / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def flows_of(sink):
    return [e for e in sink.events if e.get("event.dataset") == "network.flow"]


async def test_loopback_tcp_http_and_dns_traffic(tmp_path):
    async def handle(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dns_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns_sock.bind(("127.0.0.1", 0))
    dns_port = dns_sock.getsockname()[1]
    pipeline, sink, registry = await start_capture(tmp_path, {
        "interface": "lo", "bpf_filter": f"host 127.0.0.1 and (tcp port {port} or udp port 53)",
        "flows": {"idle_timeout_secs": 1, "tcp_close_linger_secs": 0.2}})
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client_port = writer.get_extra_info("sockname")[1]
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: mon.local\r\nUser-Agent: t/1\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()
        await writer.wait_closed()
        # A DNS query from port 53 (to pass the filter as DNS) needs root: we are root here.
        query = bytes(DNS(id=9, rd=1, qd=DNSQR(qname="mon.local")))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 53))
        sender.sendto(query, ("127.0.0.1", dns_port))
        sender.close()

        def tcp_flow():
            return [f for f in flows_of(sink) if f.get("source.port") == client_port]
        assert await wait_for(lambda: tcp_flow() and any(
            e["event.dataset"] == "network.dns" for e in sink.events))
        [flow] = tcp_flow()
        assert flow["destination.port"] == port and flow["source.ip"] == "127.0.0.1"
        assert flow["shouwang.flow.tcp_flags"][:3] == ["S", "SA", "A"]
        assert flow["shouwang.flow.end_reason"] == "tcp_close"
        # Each frame once (not twice, as loopback shows them leaving and arriving).
        assert 7 <= flow["network.packets"] <= 12
        [http] = [e for e in sink.events if e["event.dataset"] == "network.http"]
        assert http["url.domain"] == "mon.local" and http["url.path"] == "/healthz"
        [dns] = [e for e in sink.events if e["event.dataset"] == "network.dns"]
        assert dns["dns.question.name"] == "mon.local"
        # The filter kept everything else on lo out.
        assert {f.get("destination.port") for f in flows_of(sink)} <= {port, dns_port}
        assert registry.get_sample_value("shouwang_packets_kernel_dropped_total",
                                         {"component": "live"}) in (None, 0)
    finally:
        await pipeline.stop()
        server.close()
        dns_sock.close()


@pytest.fixture
def veth():
    if shutil.which("ip") is None:
        pytest.skip("iproute2 not installed (Debian package: iproute2)")
    try:
        with VethPair("lt") as pair:
            yield pair
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"network namespaces or veth unavailable: {exc.stderr}")


async def test_veth_2000_frames_counted_with_zero_drops(tmp_path, veth):
    frames = [bytes(Ether(src="02:00:00:00:00:0b", dst=veth.near_mac)
                    / IP(src="10.77.0.2", dst="10.77.0.1") / UDP(sport=40000 + i, dport=9000)
                    / Raw(b"v" * 100)) for i in range(20)]
    pipeline, sink, registry = await start_capture(tmp_path, {
        "interface": veth.near, "bpf_filter": "udp and dst port 9000",
        "flows": {"idle_timeout_secs": 0.5}})
    try:
        sent, _secs = await asyncio.to_thread(veth.send, frames, 2000, rate=20_000)
        assert sent == 2000

        def counted():
            return sum(f["network.packets"] for f in flows_of(sink))
        assert await wait_for(lambda: counted() >= 2000)
        flows = flows_of(sink)
        assert counted() == 2000 and len(flows) == 20
        assert all(f["network.packets"] == 100 and f["source.ip"] == "10.77.0.2" for f in flows)
        assert all(f["network.bytes"] == 100 * 128 for f in flows)
        assert all(f["shouwang.flow.end_reason"] == "idle_timeout" for f in flows)

        def value(name):
            return registry.get_sample_value(name, {"component": "live"}) or 0
        assert value("shouwang_packets_kernel_dropped_total") == 0
        assert value("shouwang_packets_kernel_received_total") == 2000
    finally:
        await pipeline.stop()
