"""A durable FIFO of batch payloads on disk, bounded by `max_bytes` with oldest-first eviction.

Contract:
- `append` returns only once the batch is durable (written to a temporary file, fsynced,
  renamed, directory fsynced); a kill -9 after it returns loses nothing, one before it leaves
  only a temporary file that `open` deletes (that batch was never acknowledged to its source).
- Order: batches come out of `head` in the order they were appended, across restarts.
- Bound: when a new batch would take the spool past `max_bytes`, the oldest batches are
  deleted until it fits, and `append` reports what went (`Eviction`); nothing is evicted
  below `max_bytes`. A single batch larger than `max_bytes` is still kept (alone).
- `remove` deletes a batch once a server acknowledged it (in any order: several batches may
  be in flight); removing a batch that eviction already took is a no-op. A batch being
  shipped may be evicted meanwhile: the shipper checks `contains` and gives up on it.
- Thread-safe: appends run in a worker thread (fsync), reads in another.

On disk: `<sequence:020d>-<events>.zst`, each the batch payload (collectors/agent/codec.py).
The spool of storage/spool.py differs in policy (it applies backpressure when full, for events
the server already owns); an agent must keep collecting, so it evicts and says so.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from core.durable import write_atomic

log = logging.getLogger(__name__)

SUFFIX = ".zst"
_NAME = re.compile(r"^(\d{20})-(\d+)\.zst$")


@dataclass(frozen=True)
class Segment:
    seq: int
    events: int
    size: int
    path: Path


@dataclass(frozen=True)
class Eviction:
    batches: int
    events: int
    bytes: int
    first_seq: int
    last_seq: int


class BatchSpool:
    """See the module docstring. Call `open()` before use."""

    def __init__(self, directory: Path, max_bytes: int, *, on_change=None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._segments: deque[Segment] = deque()
        self._bytes = 0
        self._events = 0
        self._next_seq = 0
        self._lock = threading.Lock()
        # Called (under no lock) after every change, e.g. to update gauges.
        self._on_change = on_change or (lambda spool: None)

    # -- state --------------------------------------------------------------------------------
    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def batches(self) -> int:
        return len(self._segments)

    @property
    def events(self) -> int:
        return self._events

    def head(self) -> Segment | None:
        with self._lock:
            return self._segments[0] if self._segments else None

    def next_after(self, seq: int) -> Segment | None:
        """The oldest queued batch with a sequence number above `seq`."""
        with self._lock:
            for segment in self._segments:  # sorted; the shipper asks near the head
                if segment.seq > seq:
                    return segment
        return None

    def contains(self, segment: Segment) -> bool:
        """Whether a batch the shipper took (and has not removed) is still queued."""
        with self._lock:
            # Eviction takes from the head in sequence order, so an unacknowledged batch is
            # still queued exactly when the head is not past it.
            return bool(self._segments) and self._segments[0].seq <= segment.seq

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> None:
        """Load what a previous run left; delete unfinished temporary files."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            path = self.directory / name
            if match:
                found.append(Segment(int(match[1]), int(match[2]), path.stat().st_size, path))
            elif name.startswith(".") and name.endswith(".tmp"):
                os.unlink(path)  # never renamed: its source never got an ack for it
        found.sort(key=lambda segment: segment.seq)
        with self._lock:
            self._segments = deque(found)
            self._bytes = sum(segment.size for segment in found)
            self._events = sum(segment.events for segment in found)
            self._next_seq = found[-1].seq + 1 if found else 0
        self._on_change(self)

    # -- writing --------------------------------------------------------------------------------
    def append(self, payload: bytes, events: int) -> Eviction | None:
        """Store a batch durably; evict the oldest first if it would not fit."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        path = self.directory / f"{seq:020d}-{events}{SUFFIX}"
        write_atomic(path, payload)
        with self._lock:
            evicted = self._evict_for(len(payload))
            self._segments.append(Segment(seq, events, len(payload), path))
            self._bytes += len(payload)
            self._events += events
        for segment in evicted:
            self._unlink(segment.path)
        self._on_change(self)
        if not evicted:
            return None
        return Eviction(len(evicted), sum(s.events for s in evicted), sum(s.size for s in evicted),
                        evicted[0].seq, evicted[-1].seq)

    def _evict_for(self, size: int) -> list[Segment]:
        evicted = []
        while self._segments and self._bytes + size > self.max_bytes:
            segment = self._segments.popleft()
            self._bytes -= segment.size
            self._events -= segment.events
            evicted.append(segment)
        return evicted

    # -- reading --------------------------------------------------------------------------------
    @staticmethod
    def read(segment: Segment) -> bytes:
        """The payload of a batch; FileNotFoundError when eviction took it meanwhile."""
        with open(segment.path, "rb") as stream:
            return stream.read()

    def remove(self, segment: Segment) -> None:
        """Forget an acknowledged batch (no-op if it was evicted)."""
        with self._lock:
            try:
                self._segments.remove(segment)
            except ValueError:
                return
            self._bytes -= segment.size
            self._events -= segment.events
        self._unlink(segment.path)
        self._on_change(self)

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # it is out of the index either way; say so, keep going
            log.error("cannot delete spooled batch %s: %s", path, exc)
