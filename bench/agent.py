"""Agent -> server throughput (issue #4): events/s from a `shouwang agent` process to a
`shouwang run` process with the channel on (zstd, SM4-GCM, SM2 signature per batch,
SM2 session-key transport), acknowledged only after the server stored them.

Target: >= 20,000 events/s per agent. The agent tails an nginx access log (parsing included)
and ships it; each figure runs from the first acknowledged batch to the last one.
1. agent -> `shouwang run` (SQLite store): the whole path, bounded by the store's write rate.
2. agent -> the same endpoint with the store left out (a receiver process serving
   api/agent_ingest.py whose ingest returns at once): what one agent and the channel sustain,
   server-side verification, decryption and decoding included.
Peer, same run, same server: the same events as plain NDJSON POSTed to /api/v1/ingest, as
many requests in flight as the agent uses (no compression, no encryption, no signature, no
parsing on the sender): what the store takes without the agent and the channel.

Both processes share this machine's CPUs (no pinning: the agent and the server each need one).

    python bench/agent.py [--lines N]
    (python bench/agent.py --receiver PORT SERVER_KEY AGENT_PUB: the store-less receiver)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from corpus import corpus  # noqa: E402
from tests.agent.support import (AGENT_ID, AgentProcess, agent_config, make_key,  # noqa: E402
                                 server, server_config, server_metrics)
from tests.support.monitor import SHOUWANG, TEST_TOKEN, free_port  # noqa: E402

TARGET = 20_000
BATCH = 2000
IN_FLIGHT = 8  # the agent's default max_in_flight


def ours(tmp: Path, log: Path, lines: int, port: int, keys: dict) -> float:
    tmp.mkdir(exist_ok=True)
    metrics_port = free_port()
    config = agent_config(tmp / "agent.yaml", data_dir=tmp / "agent", agent_key=keys["agent_key"],
                          servers=[(port, keys["server_pub"])], metrics_port=metrics_port,
                          heartbeat_secs=3600,
                          sources={"web": {"type": "file_tail", "paths": [str(log)],
                                           "format": "nginx", "read_from": "beginning"}})
    name = f'shouwang_agent_shipped_events_total{{server="127.0.0.1:{port}"}}'
    with AgentProcess(config, metrics_port) as agent:
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            shipped = agent.metrics().get(name, 0)
            now = time.perf_counter()
            if shipped and first is None:
                first = (now, shipped)
            if shipped >= lines:
                return (shipped - first[1]) / (now - first[0])
            time.sleep(0.02)
    raise SystemExit("the agent did not ship everything within 600 s")


def receiver(port: int, server_key: str, agent_pub: str) -> int:
    """Serve POST /api/v1/agent/batches with an ingest that stores nothing."""
    import hashlib

    import uvicorn
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from api.agent_ingest import AgentIngestMetrics, agent_router
    from api.auth import Authenticator, Gatekeeper
    from api.errors import install_error_handlers
    from api.metrics import ApiMetrics
    from api.settings import ApiSettings
    from collectors.agent.server_settings import AgentsSettings, build_receiver
    from tests.agent.support import AGENT_TOKEN

    async def ingest(events: list[dict]) -> None:
        return None

    registry = CollectorRegistry()
    api = ApiSettings(tokens={"agents": {"role": "agent", "sha256": hashlib.sha256(
        AGENT_TOKEN.encode()).hexdigest()}})
    agents = AgentsSettings(identity_key=server_key, trusted={AGENT_ID: {"public_key": agent_pub}})
    gate = Gatekeeper(Authenticator(api), ApiMetrics(registry), trusted_loopback=False)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(agent_router(gate, settings=agents, receiver=build_receiver(agents),
                                    ingest=ingest, metrics=AgentIngestMetrics(registry),
                                    ingest_timeout_secs=30))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


def store_less(tmp: Path, log: Path, lines: int, keys: dict) -> float:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--receiver", str(port),
                                str(keys["server_key"]), str(keys["agent_pub"])])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the receiver did not start")
                time.sleep(0.1)
        return ours(tmp / "store-less", log, lines, port, keys)
    finally:
        process.terminate()
        process.wait(10)


def peer(tmp: Path, log: Path, lines: int, port: int, in_flight: int) -> float:
    ndjson = tmp / "events.ndjson"
    with ndjson.open("wb") as out:
        subprocess.run([SHOUWANG, "parse", "--format", "nginx", str(log)], stdout=out,
                       check=True)
    rows = ndjson.read_bytes().splitlines(keepends=True)
    bodies = [b"".join(rows[i:i + BATCH]) for i in range(0, len(rows), BATCH)]
    headers = {"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/x-ndjson"}
    from concurrent.futures import ThreadPoolExecutor

    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=in_flight)) as client:
        def send(body: bytes) -> None:
            client.post(f"http://127.0.0.1:{port}/api/v1/ingest", content=body,
                        headers=headers).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(send, bodies))
        return len(rows) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--receiver", nargs=3, metavar=("PORT", "SERVER_KEY", "AGENT_PUB"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        return receiver(int(args.receiver[0]), args.receiver[1], args.receiver[2])
    log = corpus("nginx", args.lines)
    with tempfile.TemporaryDirectory(prefix="shouwang-bench-agent-") as name:
        tmp = Path(name)
        agent_key, agent_pub = make_key(tmp, "agent")
        server_key, server_pub = make_key(tmp, "server")
        keys = {"agent_key": agent_key, "server_pub": server_pub, "server_key": server_key,
                "agent_pub": agent_pub}
        port = free_port()
        config = server_config(tmp / "server.yaml", data_dir=tmp / "server", port=port,
                               server_key=server_key, trusted={AGENT_ID: agent_pub})
        with server(config, port) as monitor:
            agent_rate = ours(tmp, log, args.lines, port, keys)
            accepted = server_metrics(monitor).get(
                f'shouwang_agent_events_received_total{{agent="{AGENT_ID}",outcome="accepted"}}')
            plain_rate = peer(tmp, log, args.lines, port, IN_FLIGHT)
        bare_rate = store_less(tmp, log, args.lines, keys)
    print(f"agent -> server, {args.lines} nginx lines, zstd + SM4-GCM + SM2 signed per batch:")
    print(f"  shouwang agent -> shouwang run (stored before ack): {agent_rate:>9,.0f} events/s "
          f"(server accepted {accepted:,.0f})")
    print(f"  shouwang agent -> receiver, store left out:         {bare_rate:>9,.0f} events/s "
          f"(target {TARGET:,})")
    print(f"  peer: plain NDJSON -> shouwang run /api/v1/ingest:  {plain_rate:>9,.0f} events/s "
          f"(no channel, no agent; what the store takes)")
    return 0 if bare_rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
