"""Secret-holding value types: their repr and str print asterisks, never the value.

Invariant: a ``SecretBytes`` reaches a log, an exception message or a traceback's locals
display only as ``SecretBytes(**********)``. Use ``.reveal()`` at the single call site that feeds
the bytes to a primitive; equality is constant-time.
"""
from __future__ import annotations

import hmac

MASK = "**********"


class SecretBytes:
    """Immutable secret bytes with a masked repr and constant-time equality."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError("SecretBytes needs bytes")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:  # usable as a dict key without exposing the value
        return hash(("SecretBytes", hmac.new(b"secret-hash", self._value, "sha256").digest()))

    def __reduce__(self):  # pickling would write the secret in clear somewhere
        raise TypeError("SecretBytes cannot be pickled")
