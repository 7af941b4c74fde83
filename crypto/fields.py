"""Field protection for events (flat dotted-key dicts): encrypt selected fields, and keep them
searchable by exact value through keyed HMAC-SM3 tokens in a sibling field.

For each configured field present in an event, ``protect`` replaces the value with
    "sm4gcm:1:<key id>:<base64(nonce || ciphertext || tag)>"
(SM4-GCM under the data key, AAD = the field name, so a value cannot be moved to another field;
the plaintext is the JSON encoding, so numbers come back as numbers) and adds
    "<field>_token": HMAC-SM3(token key, field || 0x00 || normalised value)[:16] as hex.
``token(field, value)`` computes the same token for a search query. Tokens are deterministic by
design (that is what makes them searchable): equal values in one field are linkable, and
low-entropy values (phone numbers, ID numbers) can be guessed by whoever holds the token key,
never without it. The token key is kept separate from data keys so that rotating data keys does
not change tokens.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any, Callable, Iterable

from crypto.envelope import DataKey
from crypto.errors import FormatError, IntegrityError, WrongKeyError
from crypto.sm3 import hmac_sm3
from crypto.sm4 import gcm_decrypt, gcm_encrypt

PREFIX = "sm4gcm:1:"
TOKEN_SUFFIX = "_token"


def _normalise(value: Any) -> bytes:
    if isinstance(value, str):
        return value.strip().encode()
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class FieldProtector:
    """Encrypts and tokenises the configured fields of events; ``reveal`` undoes encryption."""

    def __init__(self, data_key: DataKey, token_key: DataKey, fields: Iterable[str], *,
                 token_suffix: str = TOKEN_SUFFIX):
        self._data_key = data_key
        self._token_key = token_key.key
        self.fields = tuple(fields)
        self._suffix = token_suffix

    def __repr__(self):
        return f"FieldProtector(fields={self.fields!r}, key={self._data_key.key_id})"

    def token(self, field: str, value: Any) -> str:
        """The search token for ``value`` in ``field``."""
        return hmac_sm3(self._token_key.reveal(),
                        field.encode() + b"\x00" + _normalise(value))[:16].hex()

    def protect(self, event: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``event`` with the configured fields encrypted and tokenised."""
        out = dict(event)
        key = self._data_key
        for field in self.fields:
            if field not in out or out[field] is None:
                continue
            value = out[field]
            if isinstance(value, str) and value.startswith(PREFIX):
                continue  # already protected: protecting twice must not double-encrypt
            nonce = os.urandom(12)
            sealed = gcm_encrypt(key.key.reveal(), nonce, json.dumps(value).encode(),
                                 field.encode())
            out[field] = f"{PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"
            out[field + self._suffix] = self.token(field, value)
        return out

    def reveal(self, event: dict[str, Any],
               key_for: Callable[[str], DataKey] | None = None) -> dict[str, Any]:
        """A copy of ``event`` with protected fields decrypted (tokens are kept)."""
        out = dict(event)
        for field, value in event.items():
            if isinstance(value, str) and value.startswith(PREFIX):
                out[field] = self._decrypt(field, value, key_for)
        return out

    def _decrypt(self, field: str, value: str, key_for) -> Any:
        try:
            key_id, blob = value[len(PREFIX):].rsplit(":", 1)
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise FormatError(f"field {field} is not a valid protected value") from None
        if key_id == self._data_key.key_id:
            key = self._data_key
        elif key_for is not None:
            key = key_for(key_id)
        else:
            raise WrongKeyError(f"field {field} was encrypted under key {key_id!r}")
        try:
            plain = gcm_decrypt(key.key.reveal(), raw[:12], raw[12:], field.encode())
        except IntegrityError:
            raise IntegrityError(f"field {field} failed authentication (modified, moved from "
                                 f"another field, or wrong key)") from None
        return json.loads(plain)
