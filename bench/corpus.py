"""Synthetic but realistic log corpora for the benchmarks, written once and cached in bench/out/.

nginx combined access lines of a patent/trademark portal (searches, document downloads, static
files, some 404s and 5xx, IPv4 and IPv6 clients) and sshd auth-log lines (failures, invalid
users, accepted keys, disconnects) from a few hundred thousand addresses. A fixed seed makes
every run measure the same bytes.

Flow events (`flow_events`) are made directly as the packets collector exports them (its own
`flow_event`), in the portal's hours: web and SSH conversations, DNS, one-way syslog, pings and
now and then a port scan sweeping a server. A capture file big enough for a few hundred
thousand flows would take gigabytes; the flow records are what the detection rules read.
"""
from __future__ import annotations

import random
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

OUT = Path(__file__).resolve().parent / "out"

PATHS = ["/search?q=%E4%B8%93%E5%88%A9&page={n}", "/patent/CN{n}A", "/trademark/{n}",
         "/static/app.{n}.js", "/static/logo.png", "/api/v1/filing/{n}/status",
         "/docs/CN{n}B/fulltext.pdf", "/login", "/", "/favicon.ico"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Safari/605.1.15",
          "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
          "curl/8.5.0", "python-requests/2.32.3"]
STATUSES = [200] * 40 + [304] * 5 + [404] * 3 + [302, 500, 502, 403]
USERS = ["root", "admin", "oracle", "test", "ubuntu", "examiner01", "deploy", "postgres"]


def _address(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return f"{rng.choice((203, 198, 192, 100))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def nginx_lines(count: int, seed: int = 7):
    rng = random.Random(seed)
    moment = datetime(2026, 11, 25, 0, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    for number in range(count):
        if number % 40 == 0:
            moment += timedelta(seconds=1)
        path = rng.choice(PATHS).format(n=rng.randrange(10_000_000))
        method = "POST" if path.startswith("/api") and rng.random() < 0.5 else "GET"
        stamp = moment.strftime("%d/%b/%Y:%H:%M:%S %z")
        yield (f'{_address(rng)} - - [{stamp}] "{method} {path} HTTP/1.1" {rng.choice(STATUSES)} '
               f'{rng.randrange(100, 90_000)} "https://portal.example.cn/" "{rng.choice(AGENTS)}"')


def sshd_lines(count: int, seed: int = 11):
    rng = random.Random(seed)
    moment = datetime(2026, 11, 25, 0, 0, 0)
    for number in range(count):
        if number % 20 == 0:
            moment += timedelta(seconds=1)
        stamp = moment.strftime("%b %d %H:%M:%S")
        pid = rng.randrange(1000, 60000)
        address = _address(rng)
        port = rng.randrange(1024, 65535)
        user = rng.choice(USERS)
        kind = rng.random()
        if kind < 0.45:
            body = f"Failed password for {user} from {address} port {port} ssh2"
        elif kind < 0.65:
            body = f"Failed password for invalid user {user} from {address} port {port} ssh2"
        elif kind < 0.75:
            body = f"Invalid user {user} from {address} port {port}"
        elif kind < 0.85:
            body = f"Accepted publickey for {user} from {address} port {port} ssh2: ED25519 SHA256:abc"
        elif kind < 0.95:
            body = f"Disconnected from authenticating user {user} {address} port {port} [preauth]"
        else:
            body = f"Connection closed by {address} port {port} [preauth]"
        yield f"{stamp} exam-gw1 sshd[{pid}]: {body}"


SERVERS = range(1, 21)   # 192.0.2.N and 2001:db8:ff::N
SCANNERS = ["198.51.100.7", "198.51.100.66", "203.0.113.250"]
# TCP flag combinations in the collector's bits: SYN, SYN+ACK, ACK, PSH+ACK, FIN+ACK, RST+ACK
SYN, SYN_ACK, ACK, PSH_ACK, FIN_ACK, RST_ACK = 0x02, 0x12, 0x10, 0x18, 0x11, 0x14
SCAN_START_SHARE = 0.0005   # a flow starts a scan episode: about 10% of the flows are probes
SCAN_PROBES = 200


def _flow(rng: random.Random, start_ns: int, proto: int, client: str, server: int, port: int,
          sent: int, answered: int, flags: list[int], reason: str) -> dict:
    from collectors.packets.flows import Flow, flow_event

    version = 6 if ":" in client else 4
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    server_address = f"2001:db8:ff::{server:x}" if version == 6 else f"192.0.2.{server}"
    key = (proto, socket.inet_pton(family, client), rng.randrange(1024, 65535),
           socket.inet_pton(family, server_address), port, None)
    flow = Flow(key, version, start_ns)
    flow.last = start_ns + rng.randrange(1_000_000, 3_000_000_000) if answered else start_ns
    flow.src_packets, flow.src_bytes = sent, sent * rng.randrange(60, 900)
    flow.dst_packets, flow.dst_bytes = answered, answered * rng.randrange(60, 1400)
    flow.flag_combos = flags
    return flow_event(flow, reason)


def flow_events(count: int, seed: int = 13) -> Iterator[dict]:
    """`count` network.flow events, 20 a second from the nginx corpus' first second."""
    rng = random.Random(seed)
    start_ns = int(datetime(2026, 11, 25, tzinfo=timezone(timedelta(hours=8))).timestamp()) \
        * 1_000_000_000
    scan: list = []
    for number in range(count):
        moment = start_ns + (number // 20 + 1) * 1_000_000_000 + number % 20 * 1_000_000
        if not scan and rng.random() < SCAN_START_SHARE:
            scanner, server = rng.choice(SCANNERS), rng.choice(SERVERS)
            scan = [(scanner, server, port) for port in rng.sample(range(1, 1025), SCAN_PROBES)]
        if scan:
            scanner, server, port = scan.pop()
            yield _flow(rng, moment, 6, scanner, server, port, 1, 1, [SYN, RST_ACK], "tcp_close")
            continue
        kind = rng.random()
        client, server = _address(rng), rng.choice(SERVERS)
        if kind < 0.6:
            yield _flow(rng, moment, 6, client, server, rng.choice((443, 443, 443, 80, 22)),
                        rng.randrange(4, 40), rng.randrange(3, 60),
                        [SYN, SYN_ACK, ACK, PSH_ACK, FIN_ACK], "tcp_close")
        elif kind < 0.85:
            yield _flow(rng, moment, 17, client, server, 53, 1, 1, [], "idle_timeout")
        elif kind < 0.97:
            yield _flow(rng, moment, 17, client, server, 514, rng.randrange(1, 20), 0, [],
                        "idle_timeout")
        else:
            yield _flow(rng, moment, 1, client, server, 0, 1, 1, [], "idle_timeout")


def corpus(name: str, count: int) -> Path:
    """Path of the cached corpus `name` (nginx | sshd) with `count` lines, writing it if needed."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}-{count}.log"
    if not path.exists():
        generator = {"nginx": nginx_lines, "sshd": sshd_lines}[name]
        partial = path.with_suffix(".tmp")
        with partial.open("w", encoding="utf-8") as handle:
            for line in generator(count):
                handle.write(line)
                handle.write("\n")
        partial.rename(path)
    return path
