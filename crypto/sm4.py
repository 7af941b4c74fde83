"""SM4 (GB/T 32907) in GCM, CBC and CTR modes, from ``cryptography``.

Contracts:
* GCM: 16-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext (``ct || tag``).
  A nonce must never repeat under one key; callers derive nonces (crypto/envelope.py) or draw
  them at random (``os.urandom(12)``, safe for < 2^32 messages per key).
  ``gcm_decrypt`` raises ``IntegrityError`` on any change to nonce, AAD, ciphertext or tag.
* CBC: PKCS#7 padding, random 16-byte IV supplied by the caller. CBC is unauthenticated: use it
  only for interop, and MAC the result (encrypt-then-MAC with HMAC-SM3) when integrity matters.
* CTR: raw keystream, 16-byte initial counter block.
* ``GcmStream*`` expose update()/finalize() for data that does not fit in memory.
"""
from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import IntegrityError, WrongKeyError

KEY_SIZE = 16
BLOCK_SIZE = 16
GCM_NONCE_SIZE = 12
GCM_TAG_SIZE = 16


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError("SM4 keys are 16 bytes")


def gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM: returns ciphertext || 16-byte tag."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return body + enc.tag


def gcm_decrypt(key: bytes, nonce: bytes, ciphertext_and_tag: bytes, aad: bytes = b"") -> bytes:
    """Inverse of ``gcm_encrypt``; raises ``IntegrityError`` when the tag does not verify."""
    _check_key(key)
    if len(ciphertext_and_tag) < GCM_TAG_SIZE:
        raise IntegrityError("SM4-GCM ciphertext shorter than its tag")
    body, tag = ciphertext_and_tag[:-GCM_TAG_SIZE], ciphertext_and_tag[-GCM_TAG_SIZE:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    plain = dec.update(body)
    try:
        dec.finalize()
    except InvalidTag:
        raise IntegrityError("SM4-GCM authentication failed (wrong key or modified data)") from None
    return plain


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding (compatible with ``openssl enc -sm4-cbc``)."""
    _check_key(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of ``cbc_encrypt``; a bad padding raises ``WrongKeyError`` (no detail leaked)."""
    _check_key(key)
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise WrongKeyError("SM4-CBC ciphertext is not a whole number of blocks")
    dec = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise WrongKeyError("SM4-CBC decryption failed (wrong key or modified data)") from None


def ctr_crypt(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """SM4-CTR; the same call encrypts and decrypts."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.CTR(counter_block)).encryptor()
    return enc.update(data) + enc.finalize()


def ecb_encrypt_block(key: bytes, block: bytes) -> bytes:
    """One raw SM4 block encryption (for test vectors only)."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


class GcmStreamEncryptor:
    """Streaming SM4-GCM encryption: ``update()`` chunks, ``finalize()`` returns the tag."""

    def __init__(self, key: bytes, nonce: bytes, aad: bytes = b""):
        _check_key(key)
        self._enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        if aad:
            self._enc.authenticate_additional_data(aad)

    def update(self, data: bytes) -> bytes:
        return self._enc.update(data)

    def finalize(self) -> bytes:
        self._enc.finalize()
        return self._enc.tag
