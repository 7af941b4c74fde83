"""Key derivation: the SM3 KDF of GB/T 32918.4 and PBKDF2-HMAC-SM3 (RFC 8018 with SM3).

* ``sm3_kdf(z, length)``: K = SM3(Z || ct=1) || SM3(Z || ct=2) || ... truncated to ``length``
  bytes, ct a 32-bit big-endian counter; used by SM2 encryption and for deriving subkeys.
* ``pbkdf2_sm3(password, salt, iterations, length)``: passphrase -> key. Callers store salt and
  iteration count beside the result so it can be re-derived (crypto/keystore.py does).
"""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto.sm3 import DIGEST_SIZE, sm3

# Passphrase iteration count for new keystores: about 0.5 s on this class of machine (measured in
# tests/crypto/test_kdf.py at ~1 us per SM3 compression x2), making offline guessing expensive.
DEFAULT_PBKDF2_ITERATIONS = 300_000
MIN_PBKDF2_ITERATIONS = 10_000


def sm3_kdf(z: bytes, length: int) -> bytes:
    """GB/T 32918.4 section 5.4.3 KDF over SM3: ``length`` bytes derived from ``z``."""
    if length < 0 or length > (2**32 - 1) * DIGEST_SIZE:
        raise ValueError("KDF length out of range")
    out = bytearray()
    counter = 1
    while len(out) < length:
        out += sm3(z + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:length])


def pbkdf2_sm3(password: bytes, salt: bytes, iterations: int, length: int = 32) -> bytes:
    """PBKDF2 with HMAC-SM3 as PRF."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    return PBKDF2HMAC(algorithm=hashes.SM3(), length=length, salt=salt,
                      iterations=iterations).derive(password)
