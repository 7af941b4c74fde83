"""SM2 (GB/T 32918) keys, signatures and public-key encryption, on top of gmssl-pyx.

Contracts:
* Keys: ``SM2PrivateKey`` (32-byte scalar d, 1 <= d <= n-2) and ``SM2PublicKey`` (a point on the
  recommended curve, validated on construction). PEM I/O: PKCS#8 "PRIVATE KEY" (what
  ``openssl genpkey -algorithm SM2`` writes), SubjectPublicKeyInfo "PUBLIC KEY", SEC1
  "EC PRIVATE KEY" (read only), and optional encrypted PKCS#8 (PBES2: PBKDF2-HMAC-SM3 + SM4-CBC,
  the GmSSL choice; OpenSSL 3.0's CLI cannot read it, see README.md).
* Signatures: e = SM3(Z_A || M), Z_A per GB/T 32918.2 section 5.5 with user ID ``uid`` (default
  ``1234567812345678``); DER ``SEQUENCE { r, s }``. Signing goes through
  ``sm2_sign_sm3_digest`` (fast path, Z cached per key and ID). Verification parses the DER
  strictly first, so a malleated encoding fails even where libgmssl would accept it. It runs in
  the system libcrypto when that passes a self-test (faster, releases the GIL;
  crypto/_openssl_verify.py), else in libgmssl.
* Encryption: C1C3C2 in the GM/T 0009 ASN.1 form that OpenSSL and GmSSL read; plaintext 1..255
  bytes (enough for the SM4 keys it transports). Decryption checks C3; any failure is
  ``WrongKeyError``.
* libgmssl's stderr traces on failure are swallowed (crypto/_quiet.py).
"""
from __future__ import annotations

import base64
import functools
import os
import re

import gmssl_pyx as _g

from crypto import _der, _ec, _openssl_verify
from crypto._quiet import quiet_stderr
from crypto.errors import KeyFormatError, SignatureInvalid, WrongKeyError, WrongPassphrase
from crypto.kdf import DEFAULT_PBKDF2_ITERATIONS, pbkdf2_sm3
from crypto.secret import MASK
from crypto.sm3 import sm3
from crypto.sm4 import cbc_decrypt, cbc_encrypt

DEFAULT_UID = b"1234567812345678"
MAX_PLAINTEXT = 255

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2 = "1.2.156.10197.1.301"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SM3 = "1.2.156.10197.1.401.2"          # GmSSL's id-hmacWithSM3
OID_HMAC_SM3_GMT0091 = "1.2.156.10197.1.401.3.1"  # GM/T 0091 / newer OpenSSL; accepted on read
OID_SM4_CBC = "1.2.156.10197.1.104.2"

_ALG_ID = _der.seq(_der.oid(OID_EC_PUBLIC_KEY), _der.oid(OID_SM2))
_CURVE_BYTES = b"".join(v.to_bytes(32, "big") for v in (_ec.A, _ec.B, _ec.GX, _ec.GY))
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


# ---------------------------------------------------------------- PEM framing
def pem_encode(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n".encode() + b"\n".join(lines)
            + f"\n-----END {label}-----\n".encode())


def pem_decode(data: bytes | str) -> tuple[str, bytes]:
    """First PEM block in ``data``: (label, DER). Raises ``KeyFormatError``."""
    if isinstance(data, str):
        data = data.encode()
    match = _PEM.search(data)
    if not match:
        raise KeyFormatError("no PEM block found")
    try:
        der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except ValueError:
        raise KeyFormatError("PEM body is not valid base64") from None
    return match.group(1).decode(), der


# ---------------------------------------------------------------- public key
class SM2PublicKey:
    """An SM2 public point; immutable, hashable, validated on the curve."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        if len(raw) == 65 and raw[0] == 4:
            raw = raw[1:]
        if len(raw) != 64:
            raise KeyFormatError("SM2 public key must be 64 bytes (x || y) or 04 || x || y")
        x, y = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if not _ec.on_curve(x, y):
            raise KeyFormatError("SM2 public key is not a point on the SM2 curve")
        object.__setattr__(self, "raw", bytes(raw))

    def __setattr__(self, name, value):
        raise AttributeError("SM2PublicKey is immutable")

    def __eq__(self, other):
        return isinstance(other, SM2PublicKey) and self.raw == other.raw

    def __hash__(self):
        return hash(self.raw)

    def __repr__(self):
        return f"SM2PublicKey({self.fingerprint()})"

    # -- encodings
    def to_der(self) -> bytes:
        return _der.seq(_ALG_ID, _der.bits(b"\x04" + self.raw))

    def _spki(self) -> bytes:
        return _spki_cached(self.raw)

    def to_pem(self) -> bytes:
        return pem_encode("PUBLIC KEY", self.to_der())

    @classmethod
    def from_der(cls, der: bytes) -> "SM2PublicKey":
        try:
            (t1, alg), (t2, point) = _der.items(_der.read_all(der, _der.SEQUENCE))
            if t1 != _der.SEQUENCE or t2 != _der.BIT_STRING:
                raise _der.DerError("not a SubjectPublicKeyInfo")
            _check_alg(alg)
            return cls(_der.to_bits(point))
        except (_der.DerError, ValueError) as exc:
            if isinstance(exc, KeyFormatError):
                raise
            raise KeyFormatError(f"malformed SM2 public key: {exc}") from None

    @classmethod
    def from_pem(cls, data: bytes | str) -> "SM2PublicKey":
        label, der = pem_decode(data)
        if label != "PUBLIC KEY":
            raise KeyFormatError(f"expected a PUBLIC KEY PEM, found {label}")
        return cls.from_der(der)

    def fingerprint(self) -> str:
        """Short stable id: first 16 hex digits of SM3(SubjectPublicKeyInfo)."""
        return sm3(self.to_der()).hex()[:16]

    # -- operations
    def z(self, uid: bytes = DEFAULT_UID) -> bytes:
        return _z(self.raw, uid)

    def digest(self, message: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """e = SM3(Z_A || M), the value an SM2 signature actually signs."""
        return sm3(_z(self.raw, uid) + message)

    def verify(self, message: bytes, signature: bytes, uid: bytes = DEFAULT_UID) -> bool:
        """True when ``signature`` (DER) is a valid SM2 signature of ``message`` for ``uid``."""
        return self.verify_digest(self.digest(message, uid), signature)

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        if not _strict_signature(signature):
            return False
        fast = _openssl_verify.verifier()
        if fast is not None:
            return fast(self._spki(), digest, signature)
        with quiet_stderr():
            try:
                return bool(_g.sm2_verify_sm3_digest(self.raw, digest, signature))
            except _g.GmsslInnerError:
                return False

    def check(self, message: bytes, signature: bytes, uid: bytes = DEFAULT_UID) -> None:
        """Like ``verify`` but raises ``SignatureInvalid``."""
        if not self.verify(message, signature, uid):
            raise SignatureInvalid(f"SM2 signature does not verify under key {self.fingerprint()}")

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 encryption, DER C1C3C2. ``plaintext`` must be 1..255 bytes."""
        if not 1 <= len(plaintext) <= MAX_PLAINTEXT:
            raise ValueError("SM2 encrypts 1..255 bytes here (wrap a symmetric key instead)")
        return _g.sm2_encrypt(self.raw, plaintext)


@functools.lru_cache(maxsize=256)
def _spki_cached(raw: bytes) -> bytes:
    return _der.seq(_ALG_ID, _der.bits(b"\x04" + raw))


@functools.lru_cache(maxsize=256)
def _z(raw: bytes, uid: bytes) -> bytes:
    if not uid or len(uid) * 8 > 0xFFFF:
        raise ValueError("SM2 user id must be 1..8191 bytes")
    return sm3((len(uid) * 8).to_bytes(2, "big") + uid + _CURVE_BYTES + raw)


def _strict_signature(signature: bytes) -> bool:
    try:
        parts = _der.items(_der.read_all(signature, _der.SEQUENCE))
        if len(parts) != 2 or any(tag != _der.INTEGER for tag, _ in parts):
            return False
        return all(1 <= _der.to_int(v) < _ec.N for _, v in parts)
    except _der.DerError:
        return False


def _check_alg(alg: bytes) -> None:
    parts = _der.items(alg)
    if not parts or parts[0][0] != _der.OID:
        raise KeyFormatError("malformed key algorithm identifier")
    algorithm = _der.to_oid(parts[0][1])
    curve = _der.to_oid(parts[1][1]) if len(parts) > 1 and parts[1][0] == _der.OID else None
    if algorithm == OID_SM2 and curve is None:
        return  # some tools label the key itself as SM2
    if algorithm != OID_EC_PUBLIC_KEY or curve != OID_SM2:
        raise KeyFormatError("not an SM2 key (algorithm or curve is not SM2)")


# ---------------------------------------------------------------- private key
class SM2PrivateKey:
    """An SM2 key pair. Its repr shows only the public fingerprint; the scalar never leaves
    except through ``to_pem()``/``to_der()`` (which callers write with mode 0600)."""

    __slots__ = ("_d", "public_key")

    def __init__(self, d: bytes, public_key: SM2PublicKey | None = None):
        if len(d) != 32 or not 1 <= int.from_bytes(d, "big") <= _ec.N - 2:
            raise KeyFormatError("SM2 private key scalar out of range")
        if public_key is None:
            # Rare (keys written without their public point); not constant-time, see _ec.
            point = _ec.multiply(int.from_bytes(d, "big"))
            public_key = SM2PublicKey(point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big"))
        self._d = bytes(d)
        self.public_key = public_key

    @classmethod
    def generate(cls) -> "SM2PrivateKey":
        pub, priv = _g.sm2_key_generate()
        return cls(priv, SM2PublicKey(pub))

    def __repr__(self):
        return f"SM2PrivateKey({MASK}, public={self.public_key.fingerprint()})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("SM2PrivateKey cannot be pickled")

    # -- operations
    def sign(self, message: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """DER SM2 signature over SM3(Z_A || message)."""
        return self.sign_digest(self.public_key.digest(message, uid))

    def sign_digest(self, digest: bytes) -> bytes:
        return _g.sm2_sign_sm3_digest(self._d, digest)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Inverse of ``SM2PublicKey.encrypt``; ``WrongKeyError`` if it does not open (C3 check)."""
        with quiet_stderr():
            try:
                return _g.sm2_decrypt(self._d, ciphertext)
            except (_g.GmsslInnerError, ValueError, TypeError):
                raise WrongKeyError("SM2 decryption failed (wrong key or modified data)") from None

    def check_pair(self) -> None:
        """Pairwise consistency test: the stored public key matches the scalar."""
        probe = os.urandom(32)
        if not self.public_key.verify(probe, self.sign(probe)):
            raise KeyFormatError("SM2 private key does not match its public key")

    # -- encodings
    def to_der(self) -> bytes:
        ec_key = _der.seq(_der.integer(1), _der.octets(self._d),
                          _der.explicit(1, _der.bits(b"\x04" + self.public_key.raw)))
        return _der.seq(_der.integer(0), _ALG_ID, _der.octets(ec_key))

    def to_pem(self, passphrase: bytes | None = None,
               iterations: int = DEFAULT_PBKDF2_ITERATIONS) -> bytes:
        """PKCS#8 PEM; with ``passphrase``, encrypted PKCS#8 (PBKDF2-HMAC-SM3, SM4-CBC)."""
        if passphrase is None:
            return pem_encode("PRIVATE KEY", self.to_der())
        return pem_encode("ENCRYPTED PRIVATE KEY", _encrypt_pkcs8(self.to_der(), passphrase,
                                                                  iterations))

    @classmethod
    def from_der(cls, der: bytes) -> "SM2PrivateKey":
        """PKCS#8 PrivateKeyInfo DER."""
        try:
            parts = _der.items(_der.read_all(der, _der.SEQUENCE))
            if len(parts) < 3 or parts[0][0] != _der.INTEGER or parts[2][0] != _der.OCTET_STRING:
                raise _der.DerError("not a PKCS#8 PrivateKeyInfo")
            _check_alg(parts[1][1])
            key = cls._from_sec1(parts[2][1])
        except _der.DerError as exc:
            raise KeyFormatError(f"malformed SM2 private key: {exc}") from None
        key.check_pair()
        return key

    @classmethod
    def _from_sec1(cls, der: bytes) -> "SM2PrivateKey":
        parts = _der.items(_der.read_all(der, _der.SEQUENCE))
        if len(parts) < 2 or parts[0] != (_der.INTEGER, b"\x01") or parts[1][0] != _der.OCTET_STRING:
            raise _der.DerError("not an ECPrivateKey")
        d = parts[1][1].rjust(32, b"\x00")
        public = None
        for tag, value in parts[2:]:
            if tag == 0xA0 and _der.to_oid(_der.read_all(value, _der.OID)) != OID_SM2:
                raise KeyFormatError("EC private key is not on the SM2 curve")
            if tag == 0xA1:
                public = SM2PublicKey(_der.to_bits(_der.read_all(value, _der.BIT_STRING)))
        return cls(d, public)

    @classmethod
    def from_pem(cls, data: bytes | str, passphrase: bytes | None = None) -> "SM2PrivateKey":
        label, der = pem_decode(data)
        if label == "PRIVATE KEY":
            return cls.from_der(der)
        if label == "EC PRIVATE KEY":
            try:
                key = cls._from_sec1(der)
            except _der.DerError as exc:
                raise KeyFormatError(f"malformed EC private key: {exc}") from None
            key.check_pair()
            return key
        if label == "ENCRYPTED PRIVATE KEY":
            if passphrase is None:
                raise WrongPassphrase("this private key is encrypted: a passphrase is needed")
            plain = _decrypt_pkcs8(der, passphrase)
            try:
                return cls.from_der(plain)
            except KeyFormatError:
                raise WrongPassphrase("wrong passphrase for the encrypted private key") from None
        raise KeyFormatError(f"expected a PRIVATE KEY PEM, found {label}")


def load_public_or_private(data: bytes) -> SM2PublicKey:
    """Public key from a PUBLIC KEY PEM or from an (unencrypted) private key PEM."""
    label, _ = pem_decode(data)
    if label == "PUBLIC KEY":
        return SM2PublicKey.from_pem(data)
    return SM2PrivateKey.from_pem(data).public_key


# ---------------------------------------------------------------- encrypted PKCS#8
def _algid(oid: str, params: bytes) -> bytes:
    return _der.seq(_der.oid(oid), params)


def _encrypt_pkcs8(der: bytes, passphrase: bytes, iterations: int) -> bytes:
    salt, iv = os.urandom(16), os.urandom(16)
    key = pbkdf2_sm3(passphrase, salt, iterations, 16)
    kdf = _algid(OID_PBKDF2, _der.seq(_der.octets(salt), _der.integer(iterations),
                                      _der.integer(16), _algid(OID_HMAC_SM3, _der.tlv(_der.NULL, b""))))
    scheme = _algid(OID_PBES2, _der.seq(kdf, _algid(OID_SM4_CBC, _der.octets(iv))))
    return _der.seq(scheme, _der.octets(cbc_encrypt(key, iv, der)))


def _decrypt_pkcs8(der: bytes, passphrase: bytes) -> bytes:
    try:
        (_, scheme), (_, data) = _der.items(_der.read_all(der, _der.SEQUENCE))
        scheme_oid, pbes2 = _der.items(scheme)
        if _der.to_oid(scheme_oid[1]) != OID_PBES2:
            raise KeyFormatError("encrypted key: only PBES2 is supported")
        (_, kdf), (_, enc) = _der.items(pbes2[1])
        kdf_oid, kdf_params = _der.items(kdf)
        if _der.to_oid(kdf_oid[1]) != OID_PBKDF2:
            raise KeyFormatError("encrypted key: only PBKDF2 is supported")
        params = _der.items(kdf_params[1])
        salt, iterations = params[0][1], _der.to_int(params[1][1])
        prf = OID_HMAC_SM3
        for tag, value in params[2:]:
            if tag == _der.SEQUENCE:
                prf = _der.to_oid(_der.items(value)[0][1])
        if prf not in (OID_HMAC_SM3, OID_HMAC_SM3_GMT0091):
            raise KeyFormatError("encrypted key: PRF must be HMAC-SM3")
        enc_oid, iv = _der.items(enc)
        if _der.to_oid(enc_oid[1]) != OID_SM4_CBC:
            raise KeyFormatError("encrypted key: cipher must be SM4-CBC")
        if iterations > 10_000_000:
            raise KeyFormatError("encrypted key: iteration count unreasonably large")
    except (_der.DerError, ValueError, IndexError):
        raise KeyFormatError("malformed encrypted private key") from None
    key = pbkdf2_sm3(passphrase, salt, iterations, 16)
    try:
        return cbc_decrypt(key, iv[1], data)
    except WrongKeyError:
        raise WrongPassphrase("wrong passphrase for the encrypted private key") from None
