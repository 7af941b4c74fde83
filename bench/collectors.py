"""Collector benchmarks (issue #4). Packet parts: pcap -> flow events, and live capture.

pcap: a realistic capture (default 500k packets: HTTP, TLS with SNI, DNS, other UDP, ICMP and a
SYN scan, IPv4 and IPv6, some VLAN-tagged) is built with scapy once and cached in bench/out/.
We time `collectors.packets.pcap_events` over it on one pinned core (target >= 100k packets/s);
the peer in the same run is `tshark -r FILE -T fields -e frame.number -e ip.src -e ip.dst
-e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport` on the same file and core.

live: a veth pair whose far end sits in a network namespace we create; a sender process in
that namespace writes Ethernet frames at a fixed rate (default 50k frames/s for 10 s) through
a raw socket; the packets source's capture path (LiveCapture -> PacketProcessor) receives them
on the near end, and the kernel's PACKET_STATISTICS says how many were dropped (target: 0).
Needs root and iproute2; skipped with a reason otherwise.

    python bench/collectors.py [--packets N] [--rate PPS] [--secs S] [--only pcap|live]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
CPU = 0
TARGETS = {"pcap_pps": 100_000, "live_pps": 50_000, "live_drops": 0}
T0 = 1_760_000_000.0


def pin(cpu: int = CPU) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


# --- the capture file ---------------------------------------------------------------------

def _conversations(count: int):
    """Packet lists (scapy) of `count` conversations with a realistic mix."""
    import random

    from scapy.all import (DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw)
    from scapy.layers.tls.extensions import ServerName, TLS_Ext_ServerName
    from scapy.layers.tls.handshake import TLSClientHello
    from scapy.layers.tls.record import TLS

    rng = random.Random(4)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    eth_back = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")

    def ips(v6: bool, n: int):
        if v6:
            return f"2001:db8:{n % 50:x}::{n % 997 + 1:x}", f"2001:db8:ff::{n % 13 + 1:x}"
        return f"10.{n % 200}.{n % 250}.{n % 199 + 1}", f"192.0.2.{n % 20 + 1}"

    def tcp_conv(n, dport, request: bytes, response_packets: int, v6: bool, vlan: bool):
        client, server = ips(v6, n)
        net = IPv6 if v6 else IP
        up = (eth / Dot1Q(vlan=100) if vlan else eth) / net(src=client, dst=server)
        down = (eth_back / Dot1Q(vlan=100) if vlan else eth_back) / net(src=server, dst=client)
        sport = 20000 + n % 40000
        out = [up / TCP(sport=sport, dport=dport, flags="S"),
               down / TCP(sport=dport, dport=sport, flags="SA"),
               up / TCP(sport=sport, dport=dport, flags="A"),
               up / TCP(sport=sport, dport=dport, flags="PA") / Raw(request)]
        for i in range(response_packets):
            out.append(down / TCP(sport=dport, dport=sport, flags="A") / Raw(b"d" * 1400))
            if i % 2:
                out.append(up / TCP(sport=sport, dport=dport, flags="A"))
        out += [up / TCP(sport=sport, dport=dport, flags="FA"),
                down / TCP(sport=dport, dport=sport, flags="FA"),
                up / TCP(sport=sport, dport=dport, flags="A")]
        return out

    for n in range(count):
        kind = rng.random()
        v6 = rng.random() < 0.3
        vlan = rng.random() < 0.1
        if kind < 0.35:
            request = (f"GET /item/{n} HTTP/1.1\r\nHost: www{n % 30}.example.cn\r\n"
                       f"User-Agent: bench/{n % 7}\r\n\r\n").encode()
            yield tcp_conv(n, 80, request, rng.randint(4, 20), v6, vlan)
        elif kind < 0.6:
            hello = bytes(TLS(msg=[TLSClientHello(ext=[TLS_Ext_ServerName(
                servernames=[ServerName(servername=f"svc{n % 40}.example.cn".encode())])])]))
            yield tcp_conv(n, 443, hello, rng.randint(6, 30), v6, vlan)
        elif kind < 0.85:
            client, server = ips(v6, n)
            net = IPv6 if v6 else IP
            name = f"host{n % 500}.example.cn"
            sport = 30000 + n % 30000
            query = DNS(id=n % 65536, rd=1, qd=DNSQR(qname=name))
            answer = DNS(id=n % 65536, qr=1, rd=1, ra=1, qd=DNSQR(qname=name),
                         an=DNSRR(rrname=name, rdata=f"198.51.100.{n % 250}", ttl=60))
            yield [eth / net(src=client, dst=server) / UDP(sport=sport, dport=53) / query,
                   eth_back / net(src=server, dst=client) / UDP(sport=53, dport=sport) / answer]
        elif kind < 0.95:
            client, server = ips(v6, n)
            net = IPv6 if v6 else IP
            yield [eth / net(src=client, dst=server) / UDP(sport=40000 + n % 20000, dport=514)
                   / Raw(b"<13>bench syslog line %d" % n) for _ in range(rng.randint(1, 10))]
        elif kind < 0.97:
            client, server = ips(False, n)
            yield [eth / IP(src=client, dst=server) / ICMP(type=8),
                   eth_back / IP(src=server, dst=client) / ICMP(type=0)]
        else:
            client, server = ips(False, n)
            yield [eth / IP(src=client, dst=server) / TCP(sport=61000, dport=port, flags="S")
                   for port in rng.sample(range(1, 1024), 30)]


POOL_CONVERSATIONS = 1000


def _csum_update(old: int, before: int, after: int) -> int:
    """RFC 1624 incremental checksum update for one 16-bit word changing."""
    total = (~old & 0xFFFF) + (~before & 0xFFFF) + after
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _template(conversation) -> list[tuple[bytes, int, int, bool]]:
    """(frame, transport offset, checksum offset or -1, sent by the client) per packet."""
    from scapy.all import IP, TCP, UDP, IPv6

    client = conversation[0][IP].src if IP in conversation[0] else conversation[0][IPv6].src
    out = []
    for packet in conversation:
        frame = bytes(packet)
        up = (packet[IP].src if IP in packet else packet[IPv6].src) == client
        for layer, csum in ((TCP, 16), (UDP, 6)):
            if layer in packet:
                l4 = len(frame) - len(bytes(packet[layer]))
                out.append((frame, l4, l4 + csum, up))
                break
        else:
            out.append((frame, -1, -1, up))
    return out


def _variant(template, client_port: int) -> list[bytes]:
    """The conversation again from another client port, checksums kept valid."""
    frames = []
    for frame, l4, csum_at, up in template:
        if l4 < 0:
            frames.append(frame)
            continue
        data = bytearray(frame)
        at = l4 if up else l4 + 2  # the client's port: source going up, destination coming back
        before = struct.unpack_from("!H", data, at)[0]
        struct.pack_into("!H", data, at, client_port)
        old = struct.unpack_from("!H", data, csum_at)[0]
        if old:  # 0: a UDP/IPv4 datagram without checksum
            struct.pack_into("!H", data, csum_at, _csum_update(old, before, client_port))
        frames.append(bytes(data))
    return frames


def build_pcap(path: Path, packets: int) -> None:
    """Interleave conversations in time and write a classic pcap (microsecond stamps).

    scapy builds a pool of conversations once; the file replays them from fresh client ports
    (checksums updated), so flows stay distinct without scapy building every packet."""
    import heapq
    import itertools

    pool = [_template(c) for c in itertools.islice(_conversations(10 ** 9), POOL_CONVERSATIONS)]
    active: list = []   # (next_ts, seq, remaining frames)
    written = 0
    ts = T0
    seq = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < packets:
            while len(active) < 200:  # ~200 conversations at once
                frames = _variant(pool[seq % len(pool)], 1024 + seq % 64000)
                heapq.heappush(active, (ts, seq, frames))
                seq += 1
            when, order, frames = heapq.heappop(active)
            ts = max(ts, when) + 0.00001
            frame = frames.pop(0)
            sec = int(ts)
            handle.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            handle.write(frame)
            written += 1
            if frames:
                heapq.heappush(active, (ts + 0.002, order, frames))
    tmp.replace(path)


def bench_pcap(packets: int) -> dict:
    path = OUT / f"packets-{packets}.pcap"
    if not path.exists():
        started = time.perf_counter()
        print(f"building {path} with scapy (once) ...", flush=True)
        build_pcap(path, packets)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    result = json.loads(subprocess.run(
        [sys.executable, __file__, "--child-pcap", str(path)], check=True,
        capture_output=True, text=True).stdout)
    tshark = shutil.which("tshark")
    if tshark:
        started = time.perf_counter()
        proc = subprocess.run(
            ["taskset", "-c", str(CPU), tshark, "-r", str(path), "-T", "fields",
             "-e", "frame.number", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src",
             "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport",
             "-e", "udp.dstport"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            check=True)
        secs = time.perf_counter() - started
        lines = proc.stdout.count(b"\n")
        result["tshark_pps"] = round(lines / secs)
        result["tshark_secs"] = round(secs, 2)
    else:
        result["tshark_pps"] = "tshark not installed (Debian package: tshark)"
    return result


def child_pcap(path: str) -> None:
    pin()
    from collectors.packets import pcap_events
    from collectors.packets.pcapfile import read_capture

    packets = sum(1 for _ in read_capture(path, lambda reason, offset: None))
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for event in pcap_events(path):
        dataset = event["event.dataset"]
        counts[dataset] = counts.get(dataset, 0) + 1
    secs = time.perf_counter() - started
    print(json.dumps({"packets": packets, "secs": round(secs, 2),
                      "pcap_pps": round(packets / secs), "events": counts}))


# --- live capture -------------------------------------------------------------------------

def live_frames(dst_mac: str, count: int = 512) -> list[bytes]:
    from scapy.all import IP, TCP, UDP, Ether, Raw

    frames = []
    for i in range(count):
        eth = Ether(src="02:00:00:00:00:0b", dst=dst_mac)
        if i % 3:
            packet = eth / IP(src=f"10.9.{i % 50}.2", dst="10.9.0.1") / TCP(
                sport=30000 + i, dport=443, flags="PA") / Raw(b"q" * (i % 900))
        else:
            packet = eth / IP(src="10.9.1.2", dst="10.9.0.53") / UDP(sport=40000 + i,
                                                                    dport=53) / Raw(b"r" * 60)
        frames.append(bytes(packet))
    return frames


def run_live(rate: int, secs: float) -> dict:
    """Send `rate` frames/s for `secs` through a veth pair into the packets source (built from
    its SPEC, running in a pipeline with a counting sink); figures from its metrics."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from collectors.packets.source import SPEC, PacketsSettings
    from collectors.packets.veth import VethPair
    from core.components import BuildContext
    from core.metrics import PipelineMetrics
    from core.pipeline import Pipeline
    from core.registry import Registry

    class CountingSink:
        name = "count"
        events = 0

        async def write(self, events):
            CountingSink.events += len(events)

    async def measure(veth: VethPair) -> dict:
        registry = CollectorRegistry()
        ctx = BuildContext(data_dir=OUT, registry=registry, metrics=PipelineMetrics(registry),
                           parsers=Registry("format"), hostname="bench")
        settings = PacketsSettings.model_validate({
            "type": "packets", "interface": veth.near, "bpf_filter": "ip",
            "flows": {"idle_timeout_secs": 5}})
        source = SPEC.build("live", settings, ctx)
        pipeline = Pipeline(sources=[source], sinks=[CountingSink()], metrics=ctx.metrics)
        await pipeline.start()
        await asyncio.wait_for(source.ready.wait(), 10)

        def value(name, **labels):
            return registry.get_sample_value(name, {"component": "live", **labels}) or 0
        frames = live_frames(veth.near_mac)
        started = time.perf_counter()
        sent, sender_secs = await asyncio.to_thread(
            veth.send, frames, int(rate * secs), rate=rate, cpu=1 % (os.cpu_count() or 1),
            timeout_secs=secs * 4 + 30)
        deadline = time.monotonic() + 5
        while value("shouwang_packets_total", outcome="decoded") < sent \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.3)  # one more statistics read by the capture thread
        result = {"rate_asked": rate, "secs": secs, "sent": sent, "sender_secs": sender_secs,
                  "captured": int(value("shouwang_packets_total", outcome="decoded")),
                  "kernel_received": int(value("shouwang_packets_kernel_received_total")),
                  "kernel_dropped": int(value("shouwang_packets_kernel_dropped_total")),
                  "elapsed_secs": round(elapsed, 2)}
        await pipeline.stop()
        return result

    with VethPair("b") as veth:
        result = asyncio.run(measure(veth))
        result["tcpdump"] = tcpdump_peer(veth, live_frames(veth.near_mac), rate, secs)
        return result


def tcpdump_peer(veth, frames, rate: int, secs: float) -> dict | str:
    """The same traffic captured by tcpdump (-w /dev/null, 64 MiB buffer, same CPU, same
    filter): its own captured/dropped-by-kernel report."""
    import re
    import signal

    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        return "tcpdump not installed (Debian package: tcpdump)"
    proc = subprocess.Popen(["taskset", "-c", str(CPU), tcpdump, "-i", veth.near, "-n", "-B",
                             str(64 * 1024), "-w", "/dev/null", "ip"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # tcpdump says "listening" before its socket is fully set up
    sent, _secs = veth.send(frames, int(rate * secs), rate=rate, cpu=1 % (os.cpu_count() or 1),
                            timeout_secs=secs * 4 + 30)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    captured = re.search(r"(\d+) packets? captured", err)
    dropped = re.search(r"(\d+) packets? dropped by kernel", err)
    return {"sent": sent, "captured": int(captured.group(1)) if captured else None,
            "kernel_dropped": int(dropped.group(1)) if dropped else None}


def bench_live(rate: int, secs: float) -> dict:
    if os.geteuid() != 0:
        return {"skipped": "needs root (network namespace, veth pair, AF_PACKET)"}
    if not shutil.which("ip"):
        return {"skipped": "iproute2 not installed (Debian package: iproute2)"}
    pin(CPU)  # the capture thread on CPU 0, the sender on CPU 1
    try:
        return run_live(rate, secs)
    except subprocess.CalledProcessError as exc:
        return {"skipped": f"netns/veth unavailable: {exc.stderr or exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=500_000)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--secs", type=float, default=10.0)
    parser.add_argument("--only", choices=["pcap", "live"])
    parser.add_argument("--child-pcap", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_pcap:
        child_pcap(args.child_pcap)
        return
    if args.only in (None, "pcap"):
        pcap = bench_pcap(args.packets)
        print(f"packets pcap -> events: {pcap['pcap_pps']:,} packets/s "
              f"({pcap['packets']:,} packets in {pcap['secs']} s; target "
              f">= {TARGETS['pcap_pps']:,}); peer tshark -T fields: {pcap['tshark_pps']} "
              f"packets/s; events {pcap['events']}")
    if args.only in (None, "live"):
        live = bench_live(args.rate, args.secs)
        if "skipped" in live:
            print(f"packets live capture: skipped: {live['skipped']}")
        else:
            print(f"packets live capture on veth: {live['captured']:,}/{live['sent']:,} frames "
                  f"at {live['rate_asked']:,}/s for {live['secs']} s (sender took "
                  f"{live['sender_secs']} s), kernel dropped {live['kernel_dropped']} "
                  f"(target {TARGETS['live_drops']}); peer tcpdump -w /dev/null: {live['tcpdump']}; "
                  f"{live}")


if __name__ == "__main__":
    main()
