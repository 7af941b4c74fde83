"""What every prober returns, and the name resolution they share.

A prober never raises for a failing target: it returns a `ProbeResult` with success False and a
`reason` a person can read ("connection refused", "certificate has expired"). Samples use
blackbox_exporter's metric names; the source adds probe_success and probe_duration_seconds.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field

from collectors.probes.export import Sample


@dataclass
class ProbeResult:
    success: bool = False
    reason: str | None = None
    samples: list[Sample] = field(default_factory=list)
    fields: dict = field(default_factory=dict)  # extra event fields (flat ECS keys)

    def add(self, name: str, value: float, *extra: str) -> None:
        self.samples.append((name, float(value), tuple(extra)))

    def fail(self, reason: str) -> "ProbeResult":
        self.success = False
        self.reason = reason
        return self


class ResolveError(Exception):
    pass


FAMILIES = {"ip4": (socket.AF_INET,), "ip6": (socket.AF_INET6,),
            "auto": (socket.AF_INET6, socket.AF_INET)}


async def resolve(host: str, ip_protocol: str) -> tuple[int, str, float]:
    """(family, address, seconds taken) of `host` under the ip_protocol preference.

    IP literals need no lookup. ip4/ip6 accept only that family; auto takes the resolver's
    first answer (RFC 6724 order), as one connection attempt, like blackbox_exporter.
    """
    started = time.perf_counter()
    host = host.strip("[]")
    allowed = FAMILIES[ip_protocol]
    try:
        literal = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        if family not in allowed:
            wanted = "IPv4" if ip_protocol == "ip4" else "IPv6"
            raise ResolveError(f"{host} is not an {wanted} address")
        return family, host, time.perf_counter() - started
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolveError(f"cannot resolve {host}: {exc.strerror}") from None
    for family, _, _, _, sockaddr in infos:
        if family in allowed:
            return family, sockaddr[0], time.perf_counter() - started
    raise ResolveError(f"{host} has no {'IPv4' if ip_protocol == 'ip4' else 'IPv6'} address")


def ip_version(family: int) -> int:
    return 6 if family == socket.AF_INET6 else 4


def error_text(exc: BaseException) -> str:
    """A short reason for a network error ("connection refused", not a traceback)."""
    if isinstance(exc, OSError) and exc.errno:
        # asyncio's message is "Connect call failed (addr)"; the errno says why.
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
