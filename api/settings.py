"""Settings of the HTTP API (the `api:` block of the configuration).

Contract:
- Listens on 127.0.0.1:8700 unless configured otherwise; TLS when both `tls_cert_file` and
  `tls_key_file` are given.
- Tokens are keyed by a user-chosen id and give one role. A token is configured either by the
  SHA-256 hex of its value (`sha256:`; `shouwang token` prints both) or by a secret reference
  (`secret: env:NAME` / `file:/path`) that is read and hashed once at start. The token value
  itself never appears in configuration.
- With no token configured the API serves only /healthz, /readyz and /metrics, and those only
  to loopback clients.
"""
from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from api.roles import Role
from core.secrets import SecretRef
from core.settings import StrictModel

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DEFAULT_MAX_INGEST_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_INGEST_EVENTS = 10_000
DEFAULT_INGEST_TIMEOUT_SECS = 30.0
DEFAULT_READINESS_TIMEOUT_SECS = 2.0

TOKEN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class TokenSettings(StrictModel):
    """One bearer token: its role, and exactly one of `sha256` or `secret`."""

    role: Role = Field(description="what the token may do (api/roles.py has the table)")
    sha256: str | None = Field(None, description="hex SHA-256 of the token value")
    secret: SecretRef | None = Field(None, description="reference to the token value, "
                                     "hashed at start: env:NAME or file:/path")

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA256_HEX.match(value):
            raise ValueError("sha256 must be 64 hex digits (the SHA-256 of the token, "
                             "as printed by `shouwang token`)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "TokenSettings":
        if (self.sha256 is None) == (self.secret is None):
            raise ValueError("give exactly one of sha256 or secret")
        return self


class ApiSettings(StrictModel):
    host: str = Field(DEFAULT_HOST, description="address to listen on; loopback unless "
                      "remote clients (agents, Prometheus) must reach it")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    tokens: dict[str, TokenSettings] = Field(default_factory=dict, description="bearer tokens "
                                             "keyed by id (the id is what the audit log names)")
    trusted_loopback: bool = Field(True, description="loopback clients may read /readyz, "
                                   "/metrics and the API description without a token. Turn "
                                   "off when a reverse proxy on this host forwards remote "
                                   "clients: they would all look like loopback")
    max_ingest_bytes: int = Field(DEFAULT_MAX_INGEST_BYTES, ge=1024, description="largest "
                                  "ingest body; larger ones are refused with 413")
    max_ingest_events: int = Field(DEFAULT_MAX_INGEST_EVENTS, ge=1, description="most events "
                                   "(lines) in one ingest body; more are refused with 413")
    ingest_timeout_secs: float = Field(DEFAULT_INGEST_TIMEOUT_SECS, gt=0, le=600,
                                       description="how long an ingest request waits for the "
                                       "pipeline to take its events before answering 503")
    readiness_timeout_secs: float = Field(DEFAULT_READINESS_TIMEOUT_SECS, gt=0, le=60,
                                          description="time each readiness check may take")
    tls_cert_file: Path | None = Field(None, description="PEM certificate chain for HTTPS")
    tls_key_file: Path | None = Field(None, description="PEM private key for HTTPS")

    @field_validator("tokens")
    @classmethod
    def _token_ids(cls, tokens: dict[str, TokenSettings]) -> dict[str, TokenSettings]:
        for token_id in tokens:
            if not re.match(TOKEN_ID_PATTERN, token_id):
                raise ValueError(f"token id {token_id!r} must be letters, digits, '_', '.' "
                                 "or '-' (at most 64)")
        return tokens

    @model_validator(mode="after")
    def _tls_pair(self) -> "ApiSettings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self
