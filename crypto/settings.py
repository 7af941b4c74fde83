"""Configuration models for crypto/ (wired under ``crypto:`` and ``audit:`` in the root config).

Secrets are references only (``env:NAME`` or ``file:/path``, core.secrets.SecretRef), shown as
asterisks. ``open_keystore`` and ``open_audit_log`` turn validated settings into live objects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.secrets import SecretRef
from crypto.kdf import DEFAULT_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS


class KekSettings(BaseModel):
    """Where the key-encryption key comes from: exactly one of passphrase or key_file."""

    model_config = ConfigDict(extra="forbid")

    passphrase: SecretRef | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.passphrase is None) == (self.key_file is None):
            raise ValueError("set exactly one of kek.passphrase (env:/file: reference) or "
                             "kek.key_file")
        return self


class FieldProtectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(default_factory=list,
                              description="flat dotted field names to encrypt and tokenise")
    token_key_id: str | None = Field(default=None,
                                     description="keystore data key used for HMAC tokens")


class CryptoSettings(BaseModel):
    """``crypto:`` block."""

    model_config = ConfigDict(extra="forbid")

    keystore_path: Path = Path("var/keystore.json")
    kek: KekSettings
    pbkdf2_iterations: int = Field(DEFAULT_PBKDF2_ITERATIONS, ge=MIN_PBKDF2_ITERATIONS)
    envelope_chunk_bytes: int = Field(1 << 20, ge=1 << 12, le=1 << 24)
    threads: int = Field(2, ge=1, le=64)
    field_protection: FieldProtectionSettings = Field(default_factory=FieldProtectionSettings)

    @model_validator(mode="after")
    def _chunk_power_of_two(self):
        if self.envelope_chunk_bytes & (self.envelope_chunk_bytes - 1):
            raise ValueError("envelope_chunk_bytes must be a power of two")
        return self


class AuditSettings(BaseModel):
    """``audit:`` block."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Path("var/audit.log")
    checkpoint_every_records: int = Field(1000, ge=1)
    checkpoint_every_secs: float = Field(60.0, gt=0)
    signing_key_path: Path
    signing_key_passphrase: SecretRef | None = None
    fsync: Literal["always", "batch", "never"] = "batch"
    fsync_every_records: int = Field(1000, ge=1)
    fsync_every_secs: float = Field(1.0, gt=0)


def kek_source(settings: KekSettings):
    from crypto.keystore import KekSource

    if settings.passphrase is not None:
        return KekSource(passphrase=settings.passphrase.reveal())
    return KekSource(key_file=settings.key_file)


def open_keystore(settings: CryptoSettings):
    from crypto.keystore import Keystore

    return Keystore.open(settings.keystore_path, kek_source(settings.kek))


def load_signing_key(path: Path, passphrase: SecretRef | None = None):
    from crypto.errors import KeyFormatError
    from crypto.sm2 import SM2PrivateKey

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFormatError(f"cannot read key {path}: {exc.strerror}") from None
    secret = passphrase.reveal().encode() if passphrase is not None else None
    return SM2PrivateKey.from_pem(data, secret)


def load_verify_key(path: Path):
    """An SM2 public key from a PEM file (a private key file gives its public half)."""
    from crypto.errors import KeyFormatError
    from crypto.sm2 import load_public_or_private

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFormatError(f"cannot read key {path}: {exc.strerror}") from None
    return load_public_or_private(data)


def open_audit_log(settings: AuditSettings):
    from crypto.auditlog import AuditLog

    return AuditLog(settings.path, load_signing_key(settings.signing_key_path,
                                                    settings.signing_key_passphrase),
                    checkpoint_every_records=settings.checkpoint_every_records,
                    checkpoint_every_secs=settings.checkpoint_every_secs, fsync=settings.fsync,
                    fsync_every_records=settings.fsync_every_records,
                    fsync_every_secs=settings.fsync_every_secs)
