"""Probe benchmark (issue #4): 1,000 HTTP targets every 15 s must cost < 50% of one core.

Targets are 1,000 distinct URLs on a small asyncio HTTP server run in a child process on
127.0.0.1 (its CPU is not ours). Our figure: the `probes` source, run in a real pipeline with a
null sink, after one interval of warm-up; CPU = this process's user+system time over the
measured window / wall time. The peer in the same run: Debian's prometheus-blackbox-exporter
probing the same targets (module http_2xx, ip4) on the same schedule, driven by /probe requests
from this process; its CPU is read from its own process (psutil), so the driver does not count.

    python bench/probes.py [--targets 1000] [--interval 15] [--secs 30] [--no-peer]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from collectors.probes.settings import ProbesSettings  # noqa: E402
from collectors.probes.source import SPEC  # noqa: E402
from core.components import BuildContext  # noqa: E402
from core.metrics import PipelineMetrics  # noqa: E402
from core.pipeline import Pipeline  # noqa: E402
from core.registry import Registry  # noqa: E402

TARGET_CPU_PCT = 50.0
SERVER_PORTS = 10
SERVER = r"""
import asyncio, sys
BODY = b"<html>public portal OK</html>"
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
          b"Connection: close\r\n\r\n" % len(BODY)) + BODY
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
    except Exception:
        pass
    writer.close()
async def main():
    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
               for _ in range(int(sys.argv[1]))]
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class NullSink:
    name = "null"

    def __init__(self):
        self.events = 0
        self.failures = 0

    async def write(self, events):
        self.events += len(events)
        self.failures += sum(e.get("event.outcome") == "failure" for e in events)


def cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_ours(urls: list[str], interval: float, secs: float) -> dict:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=Path(tempfile.mkdtemp()), registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="bench")
    settings = ProbesSettings(type="probes", interval_secs=interval, timeout_secs=5,
                              targets=[{"module": "http", "target": url,
                                        "labels": {"system": "public-portal"}} for url in urls])
    source = SPEC.build("bench_probes", settings, ctx)
    sink = NullSink()
    pipeline = Pipeline(sources=[source], sinks=[sink], metrics=metrics)
    await pipeline.start()
    await asyncio.sleep(interval)  # warm-up: every target has run once
    events_before, failures_before = sink.events, sink.failures
    cpu_before, wall_before = cpu_secs(), time.perf_counter()
    await asyncio.sleep(secs)
    cpu, wall = cpu_secs() - cpu_before, time.perf_counter() - wall_before
    probes, failures = sink.events - events_before, sink.failures - failures_before
    durations = sorted(registry.get_sample_value("probe_duration_seconds", {
        "target": url, "module": "http", "system": "public-portal"}) or 0 for url in urls)
    await pipeline.stop(drain_secs=2)
    return {"cpu_pct": 100 * cpu / wall, "probes": probes, "failures": failures,
            "probes_per_sec": probes / wall, "p50_ms": 1000 * durations[len(durations) // 2],
            "p99_ms": 1000 * durations[int(len(durations) * 0.99)]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_peer(urls: list[str], interval: float, secs: float) -> dict | None:
    exe = shutil.which("prometheus-blackbox-exporter")
    if exe is None:
        print("   peer skipped: prometheus-blackbox-exporter not installed "
              "(apt-get install prometheus-blackbox-exporter)")
        return None
    import httpx
    import psutil

    folder = Path(tempfile.mkdtemp())
    (folder / "blackbox.yml").write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n"
        "      preferred_ip_protocol: ip4\n")
    port = free_port()
    process = subprocess.Popen([exe, f"--config.file={folder / 'blackbox.yml'}",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200),
                                     timeout=10, trust_env=False) as client:
            for _ in range(50):
                try:
                    await client.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            counts = {"probes": 0, "failures": 0}

            async def loop_target(url: str):
                await asyncio.sleep(zlib.crc32(url.encode()) / 2**32 * interval)
                while True:
                    started = time.monotonic()
                    try:
                        answer = await client.get(f"http://127.0.0.1:{port}/probe",
                                                  params={"module": "http_2xx", "target": url})
                        ok = "\nprobe_success 1" in answer.text
                    except httpx.HTTPError:
                        ok = False
                    counts["probes"] += 1
                    counts["failures"] += 0 if ok else 1
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

            tasks = [asyncio.create_task(loop_target(url)) for url in urls]
            await asyncio.sleep(interval)
            peer = psutil.Process(process.pid)
            before = peer.cpu_times()
            probes_before, failures_before = counts["probes"], counts["failures"]
            wall_before = time.perf_counter()
            await asyncio.sleep(secs)
            after = peer.cpu_times()
            wall = time.perf_counter() - wall_before
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        cpu = (after.user + after.system) - (before.user + before.system)
        probes = counts["probes"] - probes_before
        return {"cpu_pct": 100 * cpu / wall, "probes": probes,
                "failures": counts["failures"] - failures_before, "probes_per_sec": probes / wall}
    finally:
        process.terminate()
        process.wait(5)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--secs", type=float, default=30.0)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(SERVER_PORTS)],
                              stdout=subprocess.PIPE, text=True)
    try:
        ports = server.stdout.readline().split()
        urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/exam/{i}" for i in range(args.targets)]
        print(f"== probes: {args.targets} http targets every {args.interval:g}s, "
              f"{args.secs:g}s measured after {args.interval:g}s warm-up ({os.cpu_count()} cores)")
        ours = await run_ours(urls, args.interval, args.secs)
        print(f"   shouwang probes : {ours['cpu_pct']:5.1f}% of one core, "
              f"{ours['probes_per_sec']:.1f} probes/s, {ours['failures']} failed of "
              f"{ours['probes']}, probe duration p50 {ours['p50_ms']:.2f} ms "
              f"p99 {ours['p99_ms']:.2f} ms  (target < {TARGET_CPU_PCT:g}%)")
        peer = None if args.no_peer else await run_peer(urls, args.interval, args.secs)
        if peer:
            print(f"   blackbox_exporter: {peer['cpu_pct']:5.1f}% of one core, "
                  f"{peer['probes_per_sec']:.1f} probes/s, {peer['failures']} failed of "
                  f"{peer['probes']}  (peer, same targets, same schedule)")
    finally:
        server.terminate()
        server.wait(5)
    return 0 if ours["cpu_pct"] < TARGET_CPU_PCT and ours["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
