"""The payload of an agent batch: NDJSON (one flat-ECS event per line) compressed as one zstd
frame. The channel (crypto/channel.py) encrypts and signs these bytes; the spool stores them.

Decoding is bounded: at most `max_bytes` of NDJSON come out of a frame however well it
compresses (a small frame cannot expand into gigabytes), and anything that is not a zstd
frame is refused with a `BatchFormatError` that says why.
"""
from __future__ import annotations

import orjson
import zstandard

from core.errors import InputError

CONTENT_TYPE = "application/x-shouwang-batch"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DUMPS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


class BatchFormatError(InputError):
    """A batch payload that is not zstd-compressed NDJSON, or expands past the limit."""


def encode_batch(events: list[dict], level: int = 3) -> bytes:
    """Compressed NDJSON of `events` (values orjson cannot encode become strings)."""
    dumps = orjson.dumps
    ndjson = b"".join([dumps(event, default=str, option=_DUMPS) for event in events])
    # A compressor per call: ZstdCompressor objects are not thread-safe, and this runs in
    # worker threads. Creating one costs microseconds against milliseconds of compression.
    return zstandard.ZstdCompressor(level=level).compress(ndjson)


def decompress_batch(payload: bytes, max_bytes: int) -> bytes:
    """The NDJSON inside a payload, refusing frames that expand past `max_bytes`."""
    if payload[:4] != ZSTD_MAGIC:
        raise BatchFormatError("batch payload is not a zstd frame")
    try:
        declared = zstandard.get_frame_parameters(payload).content_size
        # Our encoder always declares the size; checking it first refuses a bomb before any
        # memory is allocated, and decompress() then fails on a frame cut short.
        if declared == zstandard.CONTENTSIZE_UNKNOWN:
            raise BatchFormatError("batch payload does not declare its size")
        if declared > max_bytes:
            raise BatchFormatError(f"batch expands to {declared} bytes, more than {max_bytes}")
        return zstandard.ZstdDecompressor().decompress(payload)
    except zstandard.ZstdError as exc:
        raise BatchFormatError(f"batch payload does not decompress: {exc}") from None
