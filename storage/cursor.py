"""Opaque pagination cursors shared by the storage backends.

A cursor is the sort key of the last event a page returned, wrapped so that users treat it as
an opaque token: base64url of a small orjson document tagged with the backend's name. A cursor
that was not produced by the same backend, or was edited, is an `InputError` (never a crash
and never a silently wrong page).
"""
from __future__ import annotations

import base64
import binascii

import orjson

from core.errors import InputError

CURSOR_VERSION = 1


def encode_cursor(backend: str, key: list) -> str:
    payload = orjson.dumps({"v": CURSOR_VERSION, "b": backend, "k": key})
    return base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def decode_cursor(backend: str, cursor: str) -> list:
    """The sort key inside `cursor`; InputError when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if data.get("v") == CURSOR_VERSION and data.get("b") == backend \
                and isinstance(data.get("k"), list):
            return data["k"]
    except (binascii.Error, UnicodeEncodeError, ValueError, AttributeError):
        pass
    raise InputError(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous "
                     f"page unchanged")
