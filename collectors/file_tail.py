"""`type: file_tail` — follow log files by glob, parse each line, checkpoint after storage.

Delivery (at least once): a file's offset is written to ctx.state_dir("offsets")/<id>.json only
in the ack of the batch holding its lines, i.e. after the pipeline stored them (acks of one
pipeline batch share one atomic save, made as soon as the pipeline yields). A crash (even
kill -9) repeats at most the batch in flight and loses nothing.

Where reading starts in a file we have no checkpoint for:
- on the very first start of this source (no offsets file yet), files that already exist start
  at `read_from` (default "end": tailing /var/log/syslog should not replay years of history;
  "beginning" imports them);
- every file that appears later (created, rotated in, or seen on a later start) is read from
  its beginning, since all of it is new to us.

Files are identified by device+inode plus a fingerprint of their first 256 bytes (a reused
inode with other content is a new file). Rename rotation: the old inode is read to its end,
then closed; the new file at the path is read from its beginning. copytruncate: a file smaller
than our offset (or whose first bytes changed) is read again from 0. Rotated `.gz` files that a
glob matches are read once, after their size has settled, resuming where the plain file they
were compressed from had been read (matched by fingerprint); a truncated or corrupt .gz gives
what could be read, an error count and a pipeline_error event. Missing files are polled for.
"""
from __future__ import annotations

import asyncio
import glob
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from collectors.gzread import GzipDamaged, iter_gunzip
from collectors.multiline import Multiline
from collectors.offsets import FINGERPRINT_BYTES, OffsetStore, fingerprint
from collectors.parsers.base import LineNormalizer, ParserOptions, load_timezone
from collectors.parsers.catalog import build_parser
from core.components import BuildContext, ComponentSpec
from core.errors import ConfigError
from core.pipeline import Emitter
from core.settings import StrictModel

log = logging.getLogger(__name__)

ENTRY_RETENTION_SECS = 7 * 86400
GZ_SETTLE_SECS = 1.0


class MultilineSettings(StrictModel):
    pattern: str = Field(description="regex tested against each line")
    mode: Literal["continuation", "start"] = Field(
        "continuation", description="continuation: matching lines join the previous one; "
        "start: matching lines start a record, others join it")
    max_lines: int = Field(500, ge=2, le=100_000)
    timeout_secs: float = Field(1.0, gt=0, le=300)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return value


class FileTailSettings(StrictModel):
    type: Literal["file_tail"]
    paths: list[str] = Field(min_length=1, description="files or glob patterns")
    format: str = Field("auto", description="auto or a parser name (nginx, apache, syslog, "
                        "sshd, json, ...)")
    log_format: str | None = Field(None, description="nginx log_format for access logs")
    timezone: str | None = Field(None, description="zone of timestamps without one "
                                 "(default: local)")
    read_from: Literal["beginning", "end"] = Field(
        "end", description="where files that exist at this source's first start begin; "
        "files appearing later are always read from the beginning")
    multiline: MultilineSettings | None = None
    max_line_bytes: int = Field(1_048_576, ge=64, description="longer lines are truncated")
    poll_interval_secs: float = Field(0.1, gt=0, le=60, description="how often files are "
                                      "checked for new lines (a stat per file)")
    batch_max_lines: int = Field(1_000, ge=1, le=100_000)


@dataclass
class _Stream:
    """A file being read."""

    key: str
    path: str
    normalizer: LineNormalizer
    multiline: Multiline | None
    fd: int = -1
    gz: bool = False
    read_offset: int = 0      # after the last line handed to the line pipeline
    emitted_offset: int = 0   # after the last line in an emitted event
    generation: int = 0       # bumped on truncation, so acks of older batches are ignored
    fp: str = ""
    fp_len: int = 0
    orphaned: bool = False
    skipping_long_line: bool = False
    start_offset: int = 0     # gz: uncompressed bytes to skip
    events: list = field(default_factory=list)


class FileTailSource:
    def __init__(self, component_id: str, settings: FileTailSettings, ctx: BuildContext):
        self.id = component_id
        self.settings = settings
        self._ctx = ctx
        self._options = ParserOptions(timezone=load_timezone(settings.timezone),
                                      clock=ctx.clock, log_format=settings.log_format)
        build_parser(settings.format, ctx.parsers, self._options)  # fail at build, not run
        self.store = OffsetStore(ctx.state_dir("offsets") / f"{component_id}.json")
        self._streams: dict[str, _Stream] = {}
        self._gz_seen_sizes: dict[str, tuple[int, float]] = {}
        self._failed_paths: set[str] = set()
        self._first_start = False
        self._pending_save: asyncio.Future | None = None
        self._chunk_bytes = max(256 * 1024, settings.max_line_bytes + 1)

    # -- contract ---------------------------------------------------------------------------
    def describe(self) -> list[str]:
        lines = [f"file_tail {pattern}" for pattern in self.settings.paths]
        lines += [f"file {path}" for path in self._matched_paths()]
        return lines

    async def run(self, emitter: Emitter) -> None:
        self._emitter = emitter
        problem = self.store.load()
        if problem:
            await emitter.emit([emitter.error("offsets", problem)])
        self._first_start = not self.store.existed
        initial = True
        try:
            while True:
                await self._discover(initial)
                initial = False
                busy = await self._read_all()
                if not busy:
                    await asyncio.sleep(self.settings.poll_interval_secs)
        finally:
            self._save_now()
            for stream in self._streams.values():
                if stream.fd >= 0:
                    os.close(stream.fd)
            self._streams.clear()

    # -- discovery --------------------------------------------------------------------------
    def _matched_paths(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.settings.paths:
            for path in glob.glob(os.path.expanduser(pattern)):
                if os.path.isfile(path):
                    found.add(path)
        return sorted(found)

    async def _discover(self, initial: bool) -> None:
        now = time.time()
        seen: set[str] = set()
        errors = []
        for path in self._matched_paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            seen.add(key)
            entry = self.store.entries.get(key)
            if entry is not None:
                entry["seen"] = now
            stream = self._streams.get(key)
            if stream is not None:
                stream.path = path
                stream.orphaned = False
                continue
            try:
                if path.endswith(".gz"):
                    self._consider_gz(path, key, st, initial)
                else:
                    self._open_plain(path, key, st, initial)
                self._failed_paths.discard(path)
            except OSError as exc:
                if path not in self._failed_paths:  # report once, not every poll
                    self._failed_paths.add(path)
                    errors.append(self._emitter.error("open", f"cannot read {path}: "
                                                      f"{exc.strerror or exc}"))
        for key, stream in self._streams.items():
            if key not in seen:
                stream.orphaned = True  # renamed away or deleted: read to its end, then close
        stale = [key for key, entry in self.store.entries.items()
                 if key not in seen and key not in self._streams
                 and now - entry.get("seen", now) > ENTRY_RETENTION_SECS]
        for key in stale:
            del self.store.entries[key]
        if errors:
            await self._emitter.emit(errors)

    def _new_stream(self, key: str, path: str) -> _Stream:
        parser = build_parser(self.settings.format, self._ctx.parsers, self._options)
        multiline = None
        if self.settings.multiline is not None:
            m = self.settings.multiline
            multiline = Multiline(m.pattern, m.mode, m.max_lines, m.timeout_secs)
        context = {"log.file.path": path, "host.name": self._ctx.hostname}
        normalizer = LineNormalizer(parser, self._ctx.clock, context=context)
        return _Stream(key=key, path=path, normalizer=normalizer, multiline=multiline)

    def _open_plain(self, path: str, key: str, st: os.stat_result, initial: bool) -> None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        head = os.pread(fd, FINGERPRINT_BYTES, 0)
        stream = self._new_stream(key, path)
        stream.fd = fd
        stream.fp, stream.fp_len = fingerprint(head), len(head)
        entry = self.store.entries.get(key)
        if entry is not None and entry.get("fp") == fingerprint(head[:entry.get("fp_len", 0)]):
            offset = int(entry.get("offset", 0))
            if offset > st.st_size:
                offset = 0  # truncated while we were not looking
        else:
            offset = 0
            if initial and self._first_start and self.settings.read_from == "end":
                offset = self._end_of_last_line(fd, st.st_size)
            entry = {"path": path, "offset": offset, "gz": False}
            self.store.entries[key] = entry
        entry.update(path=path, fp=stream.fp, fp_len=stream.fp_len, seen=time.time())
        self.store.save()
        stream.read_offset = stream.emitted_offset = offset
        self._streams[key] = stream

    @staticmethod
    def _end_of_last_line(fd: int, size: int) -> int:
        tail = os.pread(fd, min(size, 65536), max(0, size - 65536))
        cut = tail.rfind(b"\n")
        return size if cut < 0 else size - len(tail) + cut + 1

    def _consider_gz(self, path: str, key: str, st: os.stat_result, initial: bool) -> None:
        entry = self.store.entries.get(key)
        if entry is not None and entry.get("done"):
            return
        if entry is None:
            # Read only once logrotate has finished writing it: same size as last poll and
            # not modified for a moment.
            previous = self._gz_seen_sizes.get(key)
            self._gz_seen_sizes[key] = (st.st_size, st.st_mtime)
            settled = time.time() - st.st_mtime >= GZ_SETTLE_SECS
            if not settled or previous is None or previous[0] != st.st_size:
                if not (initial and settled):
                    return
        with open(path, "rb") as handle:
            head = b""
            try:
                for chunk in iter_gunzip(handle, 4096):
                    head += chunk
                    if len(head) >= FINGERPRINT_BYTES:
                        break
            except GzipDamaged:
                pass
        head = head[:FINGERPRINT_BYTES]
        fp, fp_len = fingerprint(head), len(head)
        start = 0
        if entry is not None:
            start = int(entry.get("offset", 0))  # a read interrupted by a restart
        else:
            same = self.store.find_by_fingerprint(fp, fp_len)
            if same is not None:
                if same.get("gz") and same.get("done"):
                    start = -1  # the same content was read from another .gz already
                else:
                    start = int(same.get("offset", 0))  # compressed after rotation
            elif initial and self._first_start and self.settings.read_from == "end":
                start = -1
            entry = {"path": path, "offset": max(start, 0), "gz": True, "done": start < 0}
            self.store.entries[key] = entry
        entry.update(path=path, fp=fp, fp_len=fp_len, seen=time.time())
        self.store.save()
        if entry["done"]:
            return
        stream = self._new_stream(key, path)
        stream.gz = True
        stream.fp, stream.fp_len = fp, fp_len
        stream.start_offset = stream.read_offset = stream.emitted_offset = entry["offset"]
        self._streams[key] = stream

    # -- reading ----------------------------------------------------------------------------
    async def _read_all(self) -> bool:
        busy = False
        # Orphans first: a rotated file's last lines come before the new file's first ones.
        for stream in sorted(self._streams.values(), key=lambda s: not s.orphaned):
            if stream.gz:
                await self._read_gz(stream)
                busy = True
                continue
            busy |= await self._read_plain(stream)
        return busy

    async def _read_plain(self, stream: _Stream) -> bool:
        self._check_truncation(stream)
        data = os.pread(stream.fd, self._chunk_bytes, stream.read_offset)
        if not data:
            await self._flush_multiline(stream, due_only=not stream.orphaned)
            if stream.orphaned:
                await self._close(stream)
            return False
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > self.settings.max_line_bytes:
                block, final = data, True  # a line longer than allowed: cut it
            elif stream.orphaned:
                block, final = data, True  # a rotated file's unterminated last line
            else:
                await self._flush_multiline(stream, due_only=True)
                return False  # wait for the rest of the line
        else:
            block, final = data[:cut + 1], False
        await self._process(stream, block, stream.read_offset, final)
        return len(data) >= self._chunk_bytes

    def _check_truncation(self, stream: _Stream) -> None:
        try:
            size = os.fstat(stream.fd).st_size
            head = os.pread(stream.fd, stream.fp_len, 0) if stream.fp_len else b""
        except OSError:
            return
        replaced = stream.fp_len and fingerprint(head) != stream.fp
        if size < stream.read_offset or replaced:
            log.info("%s: %s was truncated; reading it again from the start", self.id,
                     stream.path)
            stream.generation += 1
            stream.read_offset = stream.emitted_offset = 0
            stream.skipping_long_line = False
            if stream.multiline:
                stream.multiline.reset()
            entry = self.store.entries.get(stream.key)
            if entry is not None:
                entry["offset"] = 0
                self.store.save()
            replaced = True
        if stream.fp_len < FINGERPRINT_BYTES or replaced:
            head = os.pread(stream.fd, FINGERPRINT_BYTES, 0)
            stream.fp, stream.fp_len = fingerprint(head), len(head)

    async def _process(self, stream: _Stream, block: bytes, base: int, final: bool) -> None:
        """Turn the complete lines of `block` (starting at file offset `base`) into events."""
        if not final and stream.multiline is None and not stream.skipping_long_line:
            plain = self._plain_lines(block)
            if plain is not None:
                await self._process_plain(stream, *plain, base)
                return
        settings = self.settings
        max_bytes = settings.max_line_bytes
        parts = block.split(b"\n")
        if not final:
            parts.pop()  # the empty piece after the last newline
        position = base
        bad_utf8 = 0
        too_long = 0
        unparsed_before = stream.normalizer.unparsed
        for index, raw in enumerate(parts):
            position += len(raw) + (0 if final and index == len(parts) - 1 else 1)
            if stream.skipping_long_line:  # the rest of a line already cut
                if not (final and index == len(parts) - 1):
                    stream.skipping_long_line = False
                continue
            if len(raw) > max_bytes:
                raw = raw[:max_bytes]
                too_long += 1
                if final and index == len(parts) - 1 and not stream.orphaned:
                    stream.skipping_long_line = True
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                bad_utf8 += 1
            if stream.multiline is not None:
                record = stream.multiline.feed(line, position)
                if record is not None:
                    self._add_record(stream, *record)
            else:
                stream.events.append(stream.normalizer.event(line))
                stream.emitted_offset = position
            if len(stream.events) >= settings.batch_max_lines:
                await self._emit(stream)
        stream.read_offset = position
        metrics = self._emitter.metrics
        self._count_unparsed(stream, unparsed_before)
        if bad_utf8:
            stream.events.append(self._emitter.error(
                "decode", f"{bad_utf8} line(s) with invalid UTF-8 in {stream.path} "
                "(replaced with U+FFFD)", file__path=stream.path))
            if bad_utf8 > 1:
                metrics.errors.labels(self.id, "decode").inc(bad_utf8 - 1)
        if too_long:
            stream.events.append(self._emitter.error(
                "line_too_long", f"{too_long} line(s) longer than {max_bytes} bytes in "
                f"{stream.path} (truncated)", file__path=stream.path))
            if too_long > 1:
                metrics.errors.labels(self.id, "line_too_long").inc(too_long - 1)
        await self._emit(stream)

    def _plain_lines(self, block: bytes) -> tuple[list[bytes], list[str]] | None:
        """The lines of a block of newline-terminated lines, as bytes and as text, when none
        needs the care of the general path (invalid UTF-8, CR LF, too long): the common case,
        done with whole-block C calls instead of Python steps per line (bench/ingest.py)."""
        if b"\r" in block:
            return None
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            return None
        # A newline byte never occurs inside a UTF-8 sequence: both splits line up.
        raw = block.split(b"\n")
        raw.pop()
        if len(block) > self.settings.max_line_bytes and \
                max(map(len, raw)) > self.settings.max_line_bytes:
            return None
        lines = text.split("\n")
        lines.pop()
        return raw, lines

    async def _process_plain(self, stream: _Stream, raw: list[bytes], lines: list[str],
                             base: int) -> None:
        batch_max = self.settings.batch_max_lines
        normalizer = stream.normalizer
        unparsed_before = normalizer.unparsed
        position = base
        start = 0
        while start < len(lines):
            end = start + max(1, batch_max - len(stream.events))
            stream.events.extend(map(normalizer.event, lines[start:end]))
            chunk = raw[start:end]
            position += sum(map(len, chunk)) + len(chunk)
            stream.emitted_offset = position
            start = end
            if len(stream.events) >= batch_max:
                await self._emit(stream)
        stream.read_offset = position
        self._count_unparsed(stream, unparsed_before)
        await self._emit(stream)

    def _count_unparsed(self, stream: _Stream, before: int) -> None:
        unparsed = stream.normalizer.unparsed - before
        if unparsed:
            self._emitter.metrics.unparsed.labels(self.id).inc(unparsed)

    def _add_record(self, stream: _Stream, text: str, end_offset: int) -> None:
        if "\n" in text:
            first, _, rest = text.partition("\n")
            event = stream.normalizer.event(first)
            event["event.original"] = text
            event["message"] = f"{event.get('message', first)}\n{rest}"
        else:
            event = stream.normalizer.event(text)
        stream.events.append(event)
        stream.emitted_offset = end_offset

    async def _flush_multiline(self, stream: _Stream, *, due_only: bool) -> None:
        if stream.multiline is None or not stream.multiline.pending:
            return
        record = stream.multiline.flush_due() if due_only else stream.multiline.flush()
        if record is not None:
            self._add_record(stream, *record)
            await self._emit(stream)

    async def _emit(self, stream: _Stream) -> None:
        events, stream.events = stream.events, []
        if not events:
            return
        key, offset, generation = stream.key, stream.emitted_offset, stream.generation

        def ack() -> asyncio.Future | None:
            # Runs after the batch is stored: only now may the checkpoint move past it.
            if stream.generation != generation:
                return
            entry = self.store.entries.get(key)
            if entry is None:
                return
            entry["offset"] = offset
            entry["fp"], entry["fp_len"] = stream.fp, stream.fp_len
            return self._save_soon()

        await self._emitter.emit(events, ack=ack)

    def _save_soon(self) -> asyncio.Future:
        """Acks of one pipeline batch run back to back; they share one atomic save, made as
        soon as the pipeline yields, and the pipeline waits for it before its next batch (a
        crash repeats at most one batch). Its two fsyncs run on a worker thread: on the event
        loop they stalled reading and parsing at every batch (6 % of ingest time)."""
        if self._pending_save is None:
            loop = asyncio.get_running_loop()
            self._pending_save = loop.create_future()
            loop.call_soon(self._save_in_background)
        return self._pending_save

    def _save_in_background(self) -> None:
        done, self._pending_save = self._pending_save, None
        if done is None:
            return
        written = asyncio.get_running_loop().run_in_executor(None, self.store.write,
                                                             *self.store.snapshot())
        written.add_done_callback(lambda future: self._saved(future, done))

    def _saved(self, written: asyncio.Future, done: asyncio.Future) -> None:
        if not written.cancelled() and written.exception() is not None:
            self._save_failed(written.exception())
        if not done.done():
            done.set_result(None)

    def _save_now(self) -> None:
        done, self._pending_save = self._pending_save, None
        try:
            self.store.save()
        except OSError as exc:
            self._save_failed(exc)
        if done is not None and not done.done():
            done.set_result(None)

    def _save_failed(self, exc: BaseException) -> None:
        # disk full, read-only: keep reading; the next ack retries
        log.error("%s: cannot save offsets to %s: %s", self.id, self.store.path, exc)
        self._emitter.metrics.errors.labels(self.id, "checkpoint").inc()

    async def _close(self, stream: _Stream) -> None:
        await self._emit(stream)
        if stream.fd >= 0:
            os.close(stream.fd)
            stream.fd = -1
        self._streams.pop(stream.key, None)

    async def _read_gz(self, stream: _Stream) -> None:
        """Read a rotated .gz in one go (yielding to the loop between batches)."""
        damaged = None
        pending = b""
        skip = stream.start_offset
        position = 0  # uncompressed bytes consumed
        try:
            with open(stream.path, "rb") as handle:
                for chunk in iter_gunzip(handle):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            position += len(chunk)
                            continue
                        position += skip
                        chunk, skip = chunk[skip:], 0
                    pending += chunk
                    cut = pending.rfind(b"\n")
                    if cut < 0:
                        continue
                    block, pending = pending[:cut + 1], pending[cut + 1:]
                    await self._process(stream, block, position, False)
                    position += len(block)
                    await asyncio.sleep(0)
        except GzipDamaged as exc:
            damaged = str(exc)
        except OSError as exc:
            damaged = f"cannot read: {exc.strerror or exc}"
        if pending:
            await self._process(stream, pending, position, True)
            position += len(pending)
        await self._flush_multiline(stream, due_only=False)
        if damaged:
            stream.events.append(self._emitter.error(
                "gzip", f"{stream.path}: {damaged}; kept the {position} bytes before it",
                file__path=stream.path))
        stream.emitted_offset = position
        await self._emit(stream)
        key = stream.key
        self._streams.pop(key, None)

        def done() -> None:
            entry = self.store.entries.get(key)
            if entry is not None:
                entry["offset"] = position
                entry["done"] = True
                self._save_soon()

        # An empty batch with an ack: runs after everything above is stored.
        await self._emitter.emit([], ack=done)


def build(component_id: str, settings: FileTailSettings, ctx: BuildContext) -> FileTailSource:
    if settings.format != "auto" and settings.format not in ctx.parsers:
        raise ConfigError(ctx.parsers.unknown_message(settings.format), key="format")
    return FileTailSource(component_id, settings, ctx)


SPEC = ComponentSpec(
    type="file_tail", settings=FileTailSettings, build=build,
    description="follow log files by glob (rotation, copytruncate, .gz once); offsets "
                "checkpointed after storage")
