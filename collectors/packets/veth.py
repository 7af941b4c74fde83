"""A veth pair with its far end in a throwaway network namespace, and a frame sender there.

For tests, the benchmark and on-site self-checks of live capture: frames sent on the far end
arrive on the near end, where a capture listens, and go nowhere else (the namespace has no
other interface and no addresses). Needs root and iproute2 (`ip`). Everything created is
removed on exit, also when setup fails half way.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Runs inside the namespace (`ip netns exec`): raw frames from stdin (hex, space separated),
# `count` of them cycling, paced in 1 ms slices at `rate` per second (0: as fast as possible).
SENDER = r"""
import socket, sys, time
iface, rate, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
frames = [bytes.fromhex(h) for h in sys.stdin.read().split()]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((iface, 0))
tick = 0.001
start = time.perf_counter()
sent = 0
n = len(frames)
while sent < count:
    due = count if rate <= 0 else min(count, int((time.perf_counter() - start) * rate) + 1)
    while sent < due:
        try:
            sock.send(frames[sent % n])
        except (BlockingIOError, OSError):
            time.sleep(0.0001)
            continue
        sent += 1
    if sent < count:
        time.sleep(tick / 2)
print(sent, round(time.perf_counter() - start, 3))
"""


class VethPair:
    """`near` stays in our namespace; `far` lives in namespace `ns`."""

    def __init__(self, tag: str = "t"):
        unique = f"{os.getpid() % 100000}{tag}"
        self.ns = f"swpk-{unique}"
        self.near = f"swpk{unique}a"[:15]
        self.far = f"swpk{unique}b"[:15]

    def __enter__(self) -> "VethPair":
        try:
            _ip("netns", "add", self.ns)
            _ip("link", "add", self.near, "type", "veth", "peer", "name", self.far,
                "netns", self.ns)
            _ip("link", "set", self.near, "up")
            _ip("-n", self.ns, "link", "set", self.far, "up")
            # Keep IPv6 autoconfiguration chatter (router solicitations) out of the capture.
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{self.near}.disable_ipv6=1"],
                           capture_output=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "link", "del", self.near], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    @property
    def near_mac(self) -> str:
        return Path(f"/sys/class/net/{self.near}/address").read_text().strip()

    def send(self, frames: list[bytes], count: int, *, rate: float = 0,
             cpu: int | None = None, timeout_secs: float = 120) -> tuple[int, float]:
        """Send `count` frames (cycling through `frames`) from the far end; (sent, secs)."""
        command = ["ip", "netns", "exec", self.ns]
        if cpu is not None:
            command += ["taskset", "-c", str(cpu)]
        command += [sys.executable, "-c", SENDER, self.far, str(rate), str(count)]
        result = subprocess.run(command, input=" ".join(f.hex() for f in frames),
                                capture_output=True, text=True, check=True,
                                timeout=timeout_secs)
        sent, secs = result.stdout.split()
        return int(sent), float(secs)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
