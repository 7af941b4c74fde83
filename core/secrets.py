"""Secrets in configuration are references, never literals: ``env:NAME`` or ``file:/path``.

`Secret` resolves the reference when asked and never shows its value: its repr and str are
asterisks, so a secret that reaches a log or an error message shows as ``**********``.
"""
from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from core.errors import ConfigError

MASK = "**********"


class Secret:
    """A reference to a secret; `reveal()` reads it."""

    __slots__ = ("reference",)

    def __init__(self, reference: str):
        scheme, _, target = reference.partition(":")
        if scheme not in ("env", "file") or not target:
            raise ValueError("a secret must be a reference: 'env:NAME' or 'file:/path' "
                             "(literal secrets are not accepted in configuration)")
        self.reference = reference

    def reveal(self) -> str:
        scheme, _, target = self.reference.partition(":")
        if scheme == "env":
            value = os.environ.get(target)
            if value is None:
                raise ConfigError(f"environment variable {target} is not set",
                                  key=self.reference)
            return value
        try:
            return Path(target).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {target}: {exc.strerror}",
                              key=self.reference) from None

    def equals(self, candidate: str) -> bool:
        """Constant-time comparison against a candidate value."""
        return hmac.compare_digest(self.reveal().encode(), candidate.encode())

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__


def _to_secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret must be a string reference: 'env:NAME' or 'file:/path'")
    return Secret(value)


SecretRef = Annotated[
    Secret,
    PlainValidator(_to_secret),
    PlainSerializer(lambda s: s.reference, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^(env|file):.+",
                    "description": "a secret reference: env:NAME or file:/path"}),
]
