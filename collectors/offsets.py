"""Checkpointed read positions of file collectors, written atomically.

One JSON file per source: {"version": 1, "files": {"<dev>:<ino>": entry}}, an entry being
{"path", "offset", "fp", "fp_len", "gz", "done", "seen"}. `offset` is a byte offset for plain
files and an uncompressed offset for .gz files; `fp` is a hash of the first `fp_len` content
bytes, which tells a reused inode from the file we read, and finds a rotated file again after
it was compressed.

Invariant: `save` writes a temporary file, fsyncs it, renames it over the old one and fsyncs
the directory, so after a crash the file holds either the previous or the new checkpoint,
never a torn one. Callers only record offsets of data the pipeline has stored (in the ack).
A checkpoint may be taken on the event loop (`snapshot`, cheap) and written on a worker
thread (`write`, two fsyncs): writes are serialized and an older snapshot never replaces a
newer one.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import orjson

from core.durable import write_atomic

FINGERPRINT_BYTES = 256
FORMAT_VERSION = 1


def fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class OffsetStore:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        self.existed = False
        self.saves = 0
        self._taken = 0          # snapshots taken
        self._written = 0        # the newest snapshot on disk
        self._write_lock = threading.Lock()

    def load(self) -> str | None:
        """Read the checkpoint; returns a problem description when it was unreadable (the
        damaged file is kept aside as <name>.corrupt-<time> and reading starts over)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        self.existed = True
        try:
            data = orjson.loads(raw)
            files = data["files"]
            if not isinstance(files, dict):
                raise ValueError("files is not a mapping")
            self.entries = {str(k): dict(v) for k, v in files.items()}
            return None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            self.entries = {}
            return f"offsets file {self.path} unreadable ({exc}); kept as {aside.name}"

    def save(self) -> None:
        self.write(*self.snapshot())

    def snapshot(self) -> tuple[int, bytes]:
        self._taken += 1
        return self._taken, orjson.dumps({"version": FORMAT_VERSION, "files": self.entries})

    def write(self, number: int, data: bytes) -> None:
        """Write snapshot `number` unless a newer one is already on disk."""
        with self._write_lock:
            if number <= self._written:
                return
            write_atomic(self.path, data)
            self._written = number
            self.saves += 1

    def find_by_fingerprint(self, fp: str, fp_len: int) -> dict | None:
        """An entry whose file began with the same (full-length) fingerprint."""
        if fp_len < FINGERPRINT_BYTES:
            return None
        for entry in self.entries.values():
            if entry.get("fp") == fp and entry.get("fp_len") == fp_len:
                return entry
        return None
