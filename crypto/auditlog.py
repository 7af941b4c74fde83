"""Tamper-evident audit log: append-only JSON lines, SM3 hash chain, SM2-signed checkpoints.

Line kinds (one JSON object per line, FORMAT.md section 3):
  {"seq":n,"ts":t,"prev":H(line n-1),"kind":"event","data":{...}}
  {"seq":n,"ts":t,"prev":H(line n-1),"kind":"checkpoint","key":fp,"sig":S}
where H is SM3 over the exact bytes of a line (without its newline) and the first line's prev
is 64 zeros. S is an SM2 signature over "shouwang-audit-v1|<seq>|<ts>|<prev>", so a checkpoint
vouches for every line before it. A checkpoint is written every ``checkpoint_every_records``
records, when ``checkpoint_every_secs`` have passed at the next append (or on ``checkpoint()``
from a timer), and on ``close()``. Each checkpoint also rewrites ``<log>.head`` (same signed
fields + the checkpoint line's own hash), which exposes tail truncation of the log.

Guarantees: ``verify()`` passes on an untouched log and otherwise reports the first line that
was edited, deleted, inserted or reordered, a bad checkpoint signature, or truncation (the log
ends before the signed head). Records after the last checkpoint are chained but not yet signed:
``verify`` reports them as ``unsigned_tail`` (a crash can leave them; they are not an error).
What it cannot do: stop someone with write access and the signing key, or someone who replaces
both log and head with an older consistent copy (ship heads off-host for that; SECURITY.md).

Durability: ``fsync="always"`` fsyncs every record; ``"batch"`` (default) flushes and fsyncs
every ``fsync_every_records`` records or ``fsync_every_secs`` seconds and at each checkpoint;
``"never"`` leaves it to the OS. A partial last line found on open (crash mid-write) is cut off
and an event recording its length and SM3 is appended, so the cut is itself evidence.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Literal

import orjson

from crypto.errors import AuditLogBroken
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import sm3

GENESIS = "0" * 64
_SIG_LABEL = "shouwang-audit-v1"
FsyncPolicy = Literal["always", "batch", "never"]


def _signed_message(seq: int, ts: float, prev: str) -> bytes:
    return f"{_SIG_LABEL}|{seq}|{ts!r}|{prev}".encode()


class AuditLog:
    """Appends records to one audit log file. Thread-safe; one writer process per file."""

    def __init__(self, path: str | os.PathLike, signing_key: SM2PrivateKey, *,
                 checkpoint_every_records: int = 1000, checkpoint_every_secs: float = 60.0,
                 fsync: FsyncPolicy = "batch", fsync_every_records: int = 1000,
                 fsync_every_secs: float = 1.0, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._key = signing_key
        self._fingerprint = signing_key.public_key.fingerprint()
        self._every_records = max(1, checkpoint_every_records)
        self._every_secs = checkpoint_every_secs
        self._fsync = fsync
        self._fsync_records = max(1, fsync_every_records)
        self._fsync_secs = fsync_every_secs
        self._clock = clock
        self._lock = threading.Lock()
        self._seq, self._prev, repaired = _resume(self.path)
        self._file = open(self.path, "ab", buffering=1 << 16)
        os.chmod(self.path, 0o600)
        self._since_checkpoint = 0
        self._last_checkpoint = clock()
        self._unsynced = 0
        self._last_sync = clock()
        if repaired is not None:
            self.append({"audit.repair": "partial last line removed on open",
                         "bytes": repaired[0], "sm3": repaired[1]})

    # ------------------------------------------------------------ writing
    def append(self, data: dict[str, Any]) -> int:
        """Append one record (a JSON-serialisable dict); returns its sequence number."""
        with self._lock:
            now = self._clock()
            seq = self._write(b'{"seq":%d,"ts":%s,"prev":"%s","kind":"event","data":%s}' % (
                self._seq, repr(now).encode(), self._prev.encode(), orjson.dumps(data)))
            self._since_checkpoint += 1
            if (self._since_checkpoint >= self._every_records
                    or now - self._last_checkpoint >= self._every_secs):
                self._checkpoint(now)
            else:
                self._maybe_sync(now)
            return seq

    def checkpoint(self) -> None:
        """Write a signed checkpoint now (a scheduler may call this every T seconds)."""
        with self._lock:
            self._checkpoint(self._clock())

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._since_checkpoint:
                self._checkpoint(self._clock())
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, line: bytes) -> int:
        self._file.write(line + b"\n")
        self._prev = sm3(line).hex()
        seq = self._seq
        self._seq += 1
        self._unsynced += 1
        return seq

    def _checkpoint(self, now: float) -> None:
        seq, prev = self._seq, self._prev
        sig = self._key.sign(_signed_message(seq, now, prev)).hex()
        self._write(b'{"seq":%d,"ts":%s,"prev":"%s","kind":"checkpoint","key":"%s","sig":"%s"}' % (
            seq, repr(now).encode(), prev.encode(), self._fingerprint.encode(), sig.encode()))
        self._since_checkpoint = 0
        self._last_checkpoint = now
        self._sync(now, force=self._fsync != "never")
        head = orjson.dumps({"seq": seq, "ts": now, "prev": prev, "hash": self._prev,
                             "key": self._fingerprint, "sig": sig})
        _atomic_write(self.path.with_name(self.path.name + ".head"), head + b"\n",
                      fsync=self._fsync != "never")

    def _maybe_sync(self, now: float) -> None:
        if self._fsync == "always":
            self._sync(now, force=True)
        elif self._fsync == "batch" and (self._unsynced >= self._fsync_records
                                         or now - self._last_sync >= self._fsync_secs):
            self._sync(now, force=True)

    def _sync(self, now: float, force: bool) -> None:
        self._file.flush()
        if force:
            os.fsync(self._file.fileno())
        self._unsynced = 0
        self._last_sync = now


def _resume(path: Path) -> tuple[int, str, tuple[int, str] | None]:
    """Next seq and prev hash from the last complete line; cut a partial last line."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS, None
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        block = 1 << 16
        tail = b""
        while True:
            start = max(0, size - len(tail) - block)
            f.seek(start)
            tail = f.read(size - start)
            body_end = tail.rfind(b"\n")
            prior = tail.rfind(b"\n", 0, body_end) if body_end >= 0 else -1
            if prior >= 0 or start == 0:
                break
        repaired = None
        if body_end != len(tail) - 1:  # partial last line (crash mid-write)
            partial = tail[body_end + 1:]
            repaired = (len(partial), sm3(partial).hex())
            f.truncate(size - len(partial))
        if body_end < 0:
            return 0, GENESIS, repaired
        last = tail[prior + 1:body_end]
    try:
        seq = orjson.loads(last)["seq"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise AuditLogBroken(f"{path}: last line is not an audit record; run "
                             f"`shouwang audit verify`") from None
    return seq + 1, sm3(last).hex(), repaired


def _atomic_write(path: Path, data: bytes, fsync: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- verification
@dataclasses.dataclass
class VerifyReport:
    """Outcome of ``verify``: ``ok`` or the first problem (1-based ``line`` and ``reason``)."""

    ok: bool
    records: int = 0
    checkpoints: int = 0
    unsigned_tail: int = 0
    line: int | None = None
    reason: str = ""

    def summary(self) -> str:
        if self.ok:
            tail = f", {self.unsigned_tail} record(s) after the last checkpoint" if self.unsigned_tail else ""
            return f"ok: {self.records} records, {self.checkpoints} signed checkpoints{tail}"
        where = f"line {self.line}: " if self.line else ""
        return f"BROKEN: {where}{self.reason}"


def verify(path: str | os.PathLike, public_key: SM2PublicKey, *,
           require_head: bool = True) -> VerifyReport:
    """Check chain, sequence, checkpoint signatures and the signed head; see module docstring."""
    path = Path(path)
    fingerprint = public_key.fingerprint()
    report = VerifyReport(ok=True)

    def broken(line: int | None, reason: str) -> VerifyReport:
        report.ok, report.line, report.reason = False, line, reason
        return report

    prev, expected, since_checkpoint = GENESIS, 0, 0
    checkpoints: dict[int, str] = {}  # seq -> hash of that checkpoint line
    last_line_no = 0
    try:
        f = open(path, "rb")
    except OSError as exc:
        return broken(None, f"cannot read {path}: {exc.strerror}")
    with f:
        for line_no, raw in enumerate(f, 1):
            last_line_no = line_no
            if not raw.endswith(b"\n"):
                return broken(line_no, "partial last line (write cut short or truncated mid-record)")
            line = raw[:-1]
            try:
                rec = orjson.loads(line)
                seq, ts, rec_prev, kind = rec["seq"], rec["ts"], rec["prev"], rec["kind"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return broken(line_no, "malformed record (edited)")
            if not isinstance(seq, int) or isinstance(seq, bool):
                return broken(line_no, "malformed sequence number (edited)")
            if seq > expected:
                return broken(line_no, f"records {expected}..{seq - 1} are missing (deleted)")
            if seq < expected:
                return broken(line_no, f"sequence {seq} where {expected} was expected "
                                       f"(inserted, duplicated or reordered record)")
            if rec_prev != prev:
                if line_no == 1:
                    return broken(1, "first record does not start the chain (edited or the "
                                     "log's beginning was removed)")
                return broken(line_no - 1, "record was edited (its hash does not match the "
                                           "next record's link)")
            if kind == "checkpoint":
                if rec.get("key") != fingerprint:
                    return broken(line_no, f"checkpoint signed by key {rec.get('key')}, expected "
                                           f"{fingerprint}")
                try:
                    sig = bytes.fromhex(rec["sig"])
                except (KeyError, ValueError, TypeError):
                    return broken(line_no, "checkpoint signature is malformed")
                if not public_key.verify(_signed_message(seq, ts, rec_prev), sig):
                    return broken(line_no, "checkpoint signature does not verify: this "
                                           "checkpoint or the records before it were rewritten")
                report.checkpoints += 1
                since_checkpoint = 0
            elif kind == "event":
                report.records += 1
                since_checkpoint += 1
            else:
                return broken(line_no, f"unknown record kind {kind!r} (edited)")
            prev = sm3(line).hex()
            if kind == "checkpoint":
                checkpoints[seq] = prev
            expected = seq + 1
    report.unsigned_tail = since_checkpoint
    head_path = path.with_name(path.name + ".head")
    if not head_path.exists():
        if require_head and (report.records or report.checkpoints):
            return broken(None, f"signed head {head_path.name} is missing")
        return report
    try:
        head = orjson.loads(head_path.read_bytes())
        hseq, hts, hprev, hhash, hsig = (head["seq"], head["ts"], head["prev"], head["hash"],
                                         bytes.fromhex(head["sig"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return broken(None, f"signed head {head_path.name} is malformed")
    if not public_key.verify(_signed_message(hseq, hts, hprev), hsig):
        return broken(None, f"signed head {head_path.name} has an invalid signature")
    if hseq >= expected:
        return broken(last_line_no or None,
                      f"log is truncated: it ends at sequence {expected - 1} but the signed "
                      f"head vouches for sequence {hseq}")
    if checkpoints.get(hseq) != hhash:
        return broken(None, f"checkpoint {hseq} named by the signed head is not in the log "
                            f"as signed (rewritten)")
    return report
