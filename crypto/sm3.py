"""SM3 (GB/T 32905) and HMAC-SM3, from ``cryptography`` (OpenSSL underneath; releases the GIL).

``sm3(data)`` and ``hmac_sm3(key, data)`` are one-shot; ``SM3Hasher`` / ``HmacSM3`` stream.
MACs are compared with ``hmac.compare_digest`` only (``verify_hmac_sm3``).
"""
from __future__ import annotations

import hmac as _stdlib_hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

DIGEST_SIZE = 32
_SM3 = hashes.SM3()


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes) of ``data``."""
    h = hashes.Hash(_SM3)
    h.update(data)
    return h.finalize()


class SM3Hasher:
    """Incremental SM3: ``update()`` any number of times, then ``digest()`` once."""

    def __init__(self, data: bytes = b""):
        self._h = hashes.Hash(_SM3)
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 over SM3), 32 bytes."""
    m = _hmac.HMAC(key, _SM3)
    m.update(data)
    return m.finalize()


class HmacSM3:
    """Incremental HMAC-SM3."""

    def __init__(self, key: bytes):
        self._m = _hmac.HMAC(key, _SM3)

    def update(self, data: bytes) -> None:
        self._m.update(data)

    def digest(self) -> bytes:
        return self._m.finalize()


def verify_hmac_sm3(key: bytes, data: bytes, mac: bytes) -> bool:
    """True when ``mac`` is HMAC-SM3(key, data); constant-time comparison."""
    return _stdlib_hmac.compare_digest(hmac_sm3(key, data), mac)
