"""Synthetic but realistic log corpora for the benchmarks, written once and cached in bench/out/.

nginx combined access lines of a patent/trademark portal (searches, document downloads, static
files, some 404s and 5xx, IPv4 and IPv6 clients) and sshd auth-log lines (failures, invalid
users, accepted keys, disconnects) from a few hundred thousand addresses. A fixed seed makes
every run measure the same bytes.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
