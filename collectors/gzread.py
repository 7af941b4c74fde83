"""Streaming gzip decompression that keeps everything valid before a truncation or corruption.

gzip.GzipFile raises at the end of a truncated member and loses the block it was decoding;
for rotated logs we want every line that can be read, then a clear error. Multi-member files
(what `cat a.gz b.gz` and some rotators produce) are read member after member.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator

READ_BYTES = 1 << 16


class GzipDamaged(Exception):
    """The gzip stream ended early or is corrupt; everything before the damage was yielded."""


def iter_gunzip(stream: BinaryIO, read_bytes: int = READ_BYTES) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream; raises GzipDamaged after the last valid byte."""
    decoder = zlib.decompressobj(wbits=31)
    started = False
    while True:
        data = stream.read(read_bytes)
        if not data:
            break
        while data:
            started = True
            try:
                chunk = decoder.decompress(data)
            except zlib.error as exc:
                raise GzipDamaged(f"corrupt gzip data ({exc})") from None
            if chunk:
                yield chunk
            if decoder.eof:
                data = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
                started = False
                if data.strip(b"\x00"):  # padding zeros after the last member are common
                    continue
                data = b""
            else:
                data = b""
    tail = decoder.flush()
    if tail:
        yield tail
    if started and not decoder.eof:
        raise GzipDamaged("gzip data ends early (truncated file)")
