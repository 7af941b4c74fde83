"""Bearer token values and their digests.

A token is 32 random bytes, URL-safe base64, prefixed ``sw_`` so that secret scanners and
people recognise it. Configuration holds only its SHA-256 (hex); a plain hash is enough
because the value has 256 bits of entropy and cannot be guessed from its digest.
"""
from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "sw_"
TOKEN_BYTES = 32
# Tokens given by secret reference are chosen by people; refuse ones short enough to guess.
MIN_TOKEN_CHARS = 20


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token value, the form kept in configuration."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> tuple[str, str]:
    """A fresh token and its SHA-256 hex: show the first once, configure the second."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)
