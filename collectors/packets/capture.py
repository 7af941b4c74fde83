"""Live capture on one interface: an AF_PACKET socket with a kernel BPF filter (Linux, root
or CAP_NET_RAW).

`LiveCapture` opens the socket so that no unfiltered frame is ever queued: it is created
listening to no protocol, the filter (compiled by libpcap through scapy) is attached, and only
then is it bound to the interface for all protocols. `receive()` blocks at most `timeout_secs`
and returns (ts_ns, frame bytes, original length) or None; run it in a thread. `statistics()`
reads PACKET_STATISTICS, which the kernel resets on every read, so it returns the frames
received and dropped (socket buffer full) since the previous call.

On a loopback interface every frame is seen twice (leaving and arriving); like libpcap we keep
one copy, by asking the kernel not to deliver outgoing frames (PACKET_IGNORE_OUTGOING).
"""
from __future__ import annotations

import socket
import struct
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
ARPHRD_LOOPBACK = 772
LINKTYPE_ETHERNET = 1
DEFAULT_RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024


def _interface_type(name: str) -> int:
    try:
        with open(f"/sys/class/net/{name}/type") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 1


def _attach_bpf(sock: socket.socket, expression: str, interface: str) -> None:
    # scapy compiles with libpcap for this interface's link type; import lazily so that
    # reading files never needs libpcap.
    from scapy.arch.linux import attach_filter
    from scapy.error import Scapy_Exception

    try:
        attach_filter(sock, expression, interface)
    except (Scapy_Exception, OSError, ImportError) as exc:
        raise ValueError(f"BPF filter {expression!r} on {interface}: {exc}") from exc


class LiveCapture:
    """One AF_PACKET socket on one interface. Not thread-safe: one reader thread."""

    linktype = LINKTYPE_ETHERNET  # Linux packet sockets deliver Ethernet-shaped frames

    def __init__(self, interface: str, *, bpf_filter: str | None = None, snaplen: int = 65535,
                 promiscuous: bool = False,
                 receive_buffer_bytes: int = DEFAULT_RECEIVE_BUFFER_BYTES,
                 timeout_secs: float = 0.2):
        self.interface = interface
        self.snaplen = snaplen
        self._buffer = bytearray(snaplen)
        self._view = memoryview(self._buffer)
        sock = self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer_bytes)
            except OSError:  # not CAP_NET_ADMIN: the ordinary limit (net.core.rmem_max) applies
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
            if bpf_filter:
                _attach_bpf(sock, bpf_filter, interface)
            if _interface_type(interface) == ARPHRD_LOOPBACK:
                try:
                    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                except OSError:
                    pass  # kernels before 4.20: loopback frames show up twice
            sock.bind((interface, ETH_P_ALL))
            if promiscuous:
                index = socket.if_nametoindex(interface)
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                                struct.pack("IHH8s", index, PACKET_MR_PROMISC, 0, b""))
            sock.settimeout(timeout_secs)
            self.statistics()  # start counting from now
        except BaseException:
            sock.close()
            raise

    def receive(self):
        """(ts_ns, frame, original length) of the next frame, or None after the timeout."""
        try:
            # MSG_TRUNC makes the kernel return the frame's real length even when cut.
            length = self._sock.recv_into(self._buffer, self.snaplen, socket.MSG_TRUNC)
        except (socket.timeout, BlockingIOError, InterruptedError):
            return None
        caplen = length if length < self.snaplen else self.snaplen
        return time.time_ns(), bytes(self._view[:caplen]), length

    def receive_many(self, max_frames: int):
        """Up to `max_frames` frames: waits for the first, then takes what is queued."""
        first = self.receive()
        if first is None:
            return []
        frames = [first]
        sock = self._sock
        buffer, view, snaplen = self._buffer, self._view, self.snaplen
        flags = socket.MSG_TRUNC | socket.MSG_DONTWAIT
        while len(frames) < max_frames:
            try:
                length = sock.recv_into(buffer, snaplen, flags)
            except (BlockingIOError, InterruptedError, socket.timeout):
                break
            caplen = length if length < snaplen else snaplen
            frames.append((time.time_ns(), bytes(view[:caplen]), length))
        return frames

    def statistics(self) -> tuple[int, int]:
        """(received, dropped) since the last call (struct tpacket_stats)."""
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        received, dropped = struct.unpack("II", raw)
        # tp_packets counts dropped frames too.
        return received, dropped

    def close(self) -> None:
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
