"""Errors raised by crypto/: every one names what failed and never carries key material.

    ShouwangError (core.errors)
    └── InputError
        └── CryptoError                  base of everything below; CLI exit code 2
            ├── KeyFormatError           malformed or unsupported PEM/DER key
            ├── WrongKeyError            the key or passphrase does not open this data
            │   └── WrongPassphrase      the passphrase does not open the keystore / key file
            ├── UnknownKeyId             a ciphertext names a key id the keystore lacks
            ├── IntegrityError           authenticated data was modified
            │   ├── TamperedHeader       the envelope header was changed
            │   ├── TamperedChunk        a chunk failed its tag (changed, reordered, moved)
            │   └── TruncatedError       data ends before its authenticated end
            ├── SignatureInvalid         a signature does not verify under the expected key
            ├── FormatError              not our format, or an unsupported version
            ├── ChannelError             agent -> server batch protection
            │   ├── UnknownSender        agent id not in the trusted key set
            │   ├── Replayed             sequence number already seen (or too old)
            │   ├── Tampered             message failed authentication or signature
            │   ├── Expired              timestamp outside the accepted window
            │   └── UnknownSession       no session key known and none carried
            └── AuditLogBroken           the audit chain is broken; carries line and reason

Messages are meant for a person and must stay free of secrets: never format a key, passphrase
or plaintext into one.
"""
from __future__ import annotations

from core.errors import InputError


class CryptoError(InputError):
    """Base of crypto/ errors: bad keys, bad ciphertexts, bad signatures."""


class KeyFormatError(CryptoError):
    """A key file or blob is malformed, of the wrong type, or uses an unsupported algorithm."""


class WrongKeyError(CryptoError):
    """The key given cannot open this data (authentication failed under every candidate)."""


class WrongPassphrase(WrongKeyError):
    """The passphrase (or key file) does not unlock the keystore or encrypted key."""


class UnknownKeyId(CryptoError):
    """Data names a key id that the keystore does not hold."""


class IntegrityError(CryptoError):
    """Authenticated data was modified; nothing derived from it may be used."""


class TamperedHeader(IntegrityError):
    """An envelope header does not authenticate."""


class TamperedChunk(IntegrityError):
    """A chunk failed authentication: modified, reordered, duplicated or moved."""


class TruncatedError(IntegrityError):
    """The data ends before its authenticated final piece."""


class SignatureInvalid(CryptoError):
    """A signature does not verify under the expected public key."""


class FormatError(CryptoError):
    """Not in our format, or a version/algorithm we do not support."""


class ChannelError(CryptoError):
    """A protected agent batch was rejected."""


class UnknownSender(ChannelError):
    """The agent id is not among the trusted agent keys."""


class Replayed(ChannelError):
    """The (session, sequence) was already accepted, or is older than the replay window."""


class Tampered(ChannelError):
    """The message failed decryption, its tag, or its signature."""


class Expired(ChannelError):
    """The message timestamp lies outside the receiver's time window."""


class UnknownSession(ChannelError):
    """The message belongs to a session whose key the receiver does not hold, and it does not
    carry the encrypted session key."""


class AuditLogBroken(CryptoError):
    """The audit log fails verification; ``line`` is the first bad record (1-based)."""

    def __init__(self, message: str, *, line: int | None = None, reason: str = ""):
        self.line = line
        self.reason = reason
        super().__init__(message)
