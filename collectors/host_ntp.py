"""One SNTP (RFC 4330) query over UDP: this host's clock offset against an NTP server.

offset = ((t2 - t1) + (t3 - t4)) / 2 and rtt = (t4 - t1) - (t3 - t2), with t1/t4 our send and
receive times and t2/t3 the server's. An answer whose origin timestamp is not our transmit
timestamp is ignored (a late or forged packet); stratum 0 (kiss-o'-death) and an unsynchronised
server (leap indicator 3) are errors. Raises `NtpError` with a reason; never hangs past timeout.
"""
from __future__ import annotations

import asyncio
import os
import struct
import time
from dataclasses import dataclass
from typing import Callable

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class NtpError(Exception):
    pass


@dataclass
class NtpReading:
    server: str
    offset_secs: float
    rtt_secs: float
    stratum: int


def to_ntp(epoch: float) -> bytes:
    seconds = epoch + NTP_EPOCH_OFFSET
    whole = int(seconds)
    return struct.pack("!II", whole, int((seconds - whole) * 2**32) & 0xFFFFFFFF)


def from_ntp(raw: bytes) -> float:
    whole, fraction = struct.unpack("!II", raw)
    return whole - NTP_EPOCH_OFFSET + fraction / 2**32


class _Client(asyncio.DatagramProtocol):
    def __init__(self, transmit: bytes, clock: Callable[[], float]):
        self.transmit = transmit
        self.clock = clock
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) >= 48 and data[24:32] == self.transmit and not self.answer.done():
            self.answer.set_result((data, self.clock()))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


def split_server(server: str) -> tuple[str, int]:
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 123)
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 123


async def query(server: str, timeout_secs: float,
                clock: Callable[[], float] = time.time) -> NtpReading:
    host, port = split_server(server)
    loop = asyncio.get_running_loop()
    transport = None
    try:
        async with asyncio.timeout(timeout_secs):
            transport, client = await loop.create_datagram_endpoint(
                lambda: _Client(b"", clock), remote_addr=(host, port))
            t1 = clock()
            # Random low bits make the origin timestamp unguessable by an off-path forger.
            transmit = to_ntp(t1)[:6] + os.urandom(2)
            client.transmit = transmit
            transport.sendto(b"\x23" + bytes(39) + transmit)  # LI 0, version 4, mode 3 (client)
            data, t4 = await client.answer
    except TimeoutError:
        raise NtpError(f"no answer from {server} within {timeout_secs:g}s") from None
    except OSError as exc:
        raise NtpError(f"{server}: {os.strerror(exc.errno).lower() if exc.errno else exc}") \
            from None
    finally:
        if transport is not None:
            transport.close()
    leap, mode, stratum = data[0] >> 6, data[0] & 0x7, data[1]
    if mode not in (4, 5):
        raise NtpError(f"{server}: not a server answer (mode {mode})")
    if stratum == 0 or leap == 3:
        raise NtpError(f"{server}: server is not synchronised (stratum {stratum}, leap {leap})")
    t1 = from_ntp(transmit)
    t2, t3 = from_ntp(data[32:40]), from_ntp(data[40:48])
    return NtpReading(server, ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2), stratum)
