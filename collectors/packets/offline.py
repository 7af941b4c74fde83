"""Capture files -> events, synchronously: the hot path of `shouwang parse --format pcap` and
of the packets source's file mode.

`pcap_events(paths)` yields flow, DNS, HTTP and TLS events and pipeline_error events (for
damaged files and corrupt frames) in capture order; every flow still open at the end of the
last file is exported (event.action flow_end, shouwang.flow.end_reason end_of_capture).
Files given together are one capture in time order (rotated files): flows continue across them.
"""
from __future__ import annotations

import os
from functools import partial
from typing import Callable, Iterable, Iterator

from core.events import pipeline_error_event
from collectors.packets.bpf import OfflineFilter
from collectors.packets.pcapfile import read_capture
from collectors.packets.processor import APP_PROTOCOLS, ErrorReporter, PacketProcessor

DEFAULT_MAX_FLOWS = 100_000
DEFAULT_IDLE_TIMEOUT_SECS = 60.0
DEFAULT_ACTIVE_TIMEOUT_SECS = 1800.0
DEFAULT_TCP_CLOSE_LINGER_SECS = 2.0
PROGRESS_EVERY_PACKETS = 4096


def feed_file(processor: PacketProcessor, path: str | os.PathLike, report: Callable[..., None],
              offline_filter: OfflineFilter | None = None) -> Iterator[int]:
    """Feed one file's frames to `processor`, pausing (yielding the frames fed so far) every
    few thousand frames so the caller can take `processor.out`. Never raises on a bad file."""
    where = {"file__path": str(path)}
    processor.context = where
    processor.frame_base = processor.packets

    def on_error(reason: str, offset: int) -> None:
        report("read", reason, shouwang__file__offset=offset, **where)

    packet = processor.packet
    count = 0
    try:
        for ts_ns, linktype, buf, off, caplen, origlen in read_capture(path, on_error):
            if offline_filter is not None and not offline_filter.matches(
                    linktype, buf, off, caplen, origlen):
                continue
            packet(ts_ns, linktype, buf, off, caplen, origlen)
            count += 1
            if count % PROGRESS_EVERY_PACKETS == 0:
                yield count
    except OSError as exc:
        report("open", f"cannot read capture file: {exc.strerror or exc}", **where)
    except ValueError as exc:  # a BPF filter libpcap cannot compile for this link type
        report("filter", str(exc), **where)
    finally:
        processor.context = {}
    yield count


def pcap_events(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                bpf_filter: str | None = None, max_flows: int = DEFAULT_MAX_FLOWS,
                idle_timeout_secs: float = DEFAULT_IDLE_TIMEOUT_SECS,
                active_timeout_secs: float = DEFAULT_ACTIVE_TIMEOUT_SECS,
                tcp_close_linger_secs: float = DEFAULT_TCP_CLOSE_LINGER_SECS,
                community_id: bool = True, protocols: tuple[str, ...] = APP_PROTOCOLS,
                component: str = "pcap") -> Iterator[dict]:
    """Events of one or more pcap/pcapng files (see the module docstring).

    A BPF filter libpcap cannot compile raises ValueError before anything is read."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    offline_filter = OfflineFilter(bpf_filter) if bpf_filter else None
    out: list[dict] = []
    report = ErrorReporter(partial(pipeline_error_event, component), lambda stage: None, out)
    processor = PacketProcessor(
        out=out, report=report, max_flows=max_flows, idle_timeout_secs=idle_timeout_secs,
        active_timeout_secs=active_timeout_secs, tcp_close_linger_secs=tcp_close_linger_secs,
        community_id=community_id, protocols=protocols)
    for path in paths:
        for _ in feed_file(processor, path, report, offline_filter):
            if out:
                yield from out
                out.clear()
    processor.flush()
    yield from out
    out.clear()
