"""The envelope: chunked, streaming SM4-GCM for data at rest (format in FORMAT.md, version 1).

Layout: header || header_tag || frame* || [signature trailer]
  * header: magic "SWEV", version, algorithm, flags, chunk size, salt, nonce base, key id and
    caller associated data. header_tag = HMAC-SM3(mac_key, header). A key check value derived
    from the data key and salt tells "wrong key" from "modified header".
  * frame i: kind (0 = chunk, 1 = final chunk) || u32 length || SM4-GCM(ct || tag) with
    nonce_i = nonce_base XOR i and AAD = SM3(header) || u64 i || kind. The index makes reordering,
    dropping or duplicating a chunk fail; the kind makes truncation at a frame boundary and
    appended frames fail; the header hash binds every chunk to this header.
  * optional trailer: u16 length || SM2 signature over SM3("shouwang-envelope-v1-signature" ||
    every byte before the trailer), so a holder of the data key still cannot forge the origin.

Per-file keys: enc_key || mac_key || check = SM3-KDF(label || data_key || salt, 64), so each
file has a fresh key and nonces cannot collide across files under one data key.

Guarantees (tested): any change, cut, reorder or extension raises an ``IntegrityError`` subclass
or ``WrongKeyError``; ``decrypt_file`` writes the plaintext to a temporary file beside the target
and renames it only after the last tag (and the signature, if required) verifies; memory use is
bounded by ``max_in_flight`` chunks whatever the file size; up to ``threads`` chunks are sealed
or opened in parallel (cryptography releases the GIL).
"""
from __future__ import annotations

import collections
import dataclasses
import hmac as _hmac
import os
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Callable

from crypto.errors import (FormatError, IntegrityError, SignatureInvalid, TamperedChunk,
                           TamperedHeader, TruncatedError, WrongKeyError)
from crypto.kdf import sm3_kdf
from crypto.secret import SecretBytes
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import SM3Hasher, hmac_sm3, sm3
from crypto.sm4 import gcm_decrypt, gcm_encrypt

MAGIC = b"SWEV"
VERSION = 1
ALG_SM4_GCM_SM3 = 1
FLAG_SIGNED = 0x01
KIND_CHUNK, KIND_FINAL = 0, 1
DEFAULT_CHUNK_LOG2 = 20  # 1 MiB: tag and frame overhead 21 bytes per MiB
MIN_CHUNK_LOG2, MAX_CHUNK_LOG2 = 12, 24
TAG_SIZE = 16
SALT_SIZE = 16
NONCE_SIZE = 12
HEADER_TAG_SIZE = 32
_KDF_LABEL = b"shouwang-envelope-v1"
_SIG_LABEL = b"shouwang-envelope-v1-signature"
_FIXED = struct.Struct(">4sBBBB16s12s16s")  # magic ver alg flags chunk_log2 salt nonce check
_FRAME = struct.Struct(">BI")


@dataclasses.dataclass(frozen=True)
class DataKey:
    """A data key and its id. The key bytes are a SecretBytes (masked repr)."""

    key_id: str
    key: SecretBytes

    def __post_init__(self):
        if len(self.key) != 16:
            raise ValueError("data keys are 16-byte SM4 keys")
        if not 1 <= len(self.key_id.encode()) <= 64:
            raise ValueError("key id must be 1..64 bytes")


@dataclasses.dataclass(frozen=True)
class Header:
    """A parsed header (not yet authenticated unless returned by a decrypt call)."""

    version: int
    algorithm: int
    flags: int
    chunk_size: int
    salt: bytes
    nonce_base: bytes
    check: bytes
    key_id: str
    associated_data: bytes
    raw: bytes

    @property
    def signed(self) -> bool:
        return bool(self.flags & FLAG_SIGNED)


@dataclasses.dataclass(frozen=True)
class OpenResult:
    """What decrypt learned: the authenticated header, bytes written, and signature status."""

    header: Header
    plaintext_bytes: int
    signature_verified: bool


class _FileKeys:
    __slots__ = ("enc", "mac", "check")

    def __init__(self, data_key: bytes, salt: bytes):
        okm = sm3_kdf(_KDF_LABEL + data_key + salt, 16 + 32 + 16)
        self.enc, self.mac, self.check = okm[:16], okm[16:48], okm[48:]


def _nonce(base: bytes, index: int) -> bytes:
    return base[:4] + (int.from_bytes(base[4:], "big") ^ index).to_bytes(8, "big")


def _aad(header_hash: bytes, index: int, kind: int) -> bytes:
    return header_hash + index.to_bytes(8, "big") + bytes([kind])


def build_header(key: DataKey, associated_data: bytes, chunk_log2: int, signed: bool,
                 salt: bytes, nonce_base: bytes) -> tuple[bytes, _FileKeys]:
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise ValueError("chunk size must be 2^12 .. 2^24 bytes")
    if len(associated_data) > 0xFFFF:
        raise ValueError("associated data is limited to 65535 bytes")
    keys = _FileKeys(key.key.reveal(), salt)
    kid = key.key_id.encode()
    raw = (_FIXED.pack(MAGIC, VERSION, ALG_SM4_GCM_SM3, FLAG_SIGNED if signed else 0, chunk_log2,
                       salt, nonce_base, keys.check)
           + bytes([len(kid)]) + kid + len(associated_data).to_bytes(2, "big") + associated_data)
    return raw, keys


def _read_exact(src: BinaryIO, n: int) -> bytes:
    buf = src.read(n)
    if buf is None:
        buf = b""
    while len(buf) < n:
        more = src.read(n - len(buf))
        if not more:
            break
        buf += more
    return buf


def read_header(src: BinaryIO) -> Header:
    """Parse (without authenticating) the header at the current position of ``src``."""
    fixed = _read_exact(src, _FIXED.size)
    if len(fixed) < 4 or fixed[:4] != MAGIC:
        raise FormatError("not a Shouwang envelope (bad magic)")
    if len(fixed) < _FIXED.size:
        raise TruncatedError("envelope ends inside its header")
    magic, version, alg, flags, chunk_log2, salt, nonce_base, check = _FIXED.unpack(fixed)
    if version != VERSION:
        raise FormatError(f"unsupported envelope version {version}")
    if alg != ALG_SM4_GCM_SM3 or flags & ~FLAG_SIGNED or not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise TamperedHeader("envelope header has an unknown algorithm, flag or chunk size")
    kid_len = _read_exact(src, 1)
    kid = _read_exact(src, kid_len[0]) if kid_len else b""
    aad_len = _read_exact(src, 2)
    if len(kid_len) < 1 or len(kid) < kid_len[0] or len(aad_len) < 2:
        raise TruncatedError("envelope ends inside its header")
    aad = _read_exact(src, int.from_bytes(aad_len, "big"))
    if len(aad) < int.from_bytes(aad_len, "big"):
        raise TruncatedError("envelope ends inside its header")
    try:
        key_id = kid.decode()
    except UnicodeDecodeError:
        raise TamperedHeader("envelope key id is not UTF-8") from None
    raw = fixed + kid_len + kid + aad_len + aad
    return Header(version, alg, flags, 1 << chunk_log2, salt, nonce_base, check, key_id, aad, raw)


# ---------------------------------------------------------------- encrypt
def encrypt_stream(src: BinaryIO, dst: BinaryIO, key: DataKey, *, associated_data: bytes = b"",
                   signer: SM2PrivateKey | None = None, chunk_log2: int = DEFAULT_CHUNK_LOG2,
                   threads: int = 2, max_in_flight: int = 4) -> int:
    """Encrypt everything readable from ``src`` into ``dst``; returns plaintext bytes read."""
    nonce_base = os.urandom(NONCE_SIZE)
    header, keys = build_header(key, associated_data, chunk_log2, signer is not None,
                                os.urandom(SALT_SIZE), nonce_base)
    header_hash = sm3(header)
    chunk_size = 1 << chunk_log2
    signing = SM3Hasher(_SIG_LABEL) if signer else None

    def emit(data: bytes) -> None:
        dst.write(data)
        if signing:
            signing.update(data)

    def frame(index: int, kind: int, plain: bytes) -> bytes:
        sealed = gcm_encrypt(keys.enc, _nonce(nonce_base, index), plain,
                             _aad(header_hash, index, kind))
        return _FRAME.pack(kind, len(sealed)) + sealed

    emit(header + hmac_sm3(keys.mac, header))
    total = 0
    # Read one chunk ahead so the last chunk can be marked final without knowing the size.
    current = _read_exact(src, chunk_size)
    index = 0
    with _Pipeline(threads, max_in_flight, emit) as pipeline:
        while True:
            nxt = _read_exact(src, chunk_size) if len(current) == chunk_size else b""
            kind = KIND_FINAL if not nxt else KIND_CHUNK
            total += len(current)
            pipeline.submit(frame, index, kind, current)
            if kind == KIND_FINAL:
                break
            current, index = nxt, index + 1
    if signer:
        sig = signer.sign(signing.digest())
        dst.write(len(sig).to_bytes(2, "big") + sig)
    return total


class _Pipeline:
    """Run jobs on a small thread pool, handing results to ``sink`` in submission order, with
    at most ``max_in_flight`` outstanding (bounded memory)."""

    def __init__(self, threads: int, max_in_flight: int, sink: Callable[[bytes], None]):
        self._sink = sink
        self._pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self._pending: collections.deque = collections.deque()
        self._limit = max(1, max_in_flight)

    def submit(self, fn, *args) -> None:
        if self._pool is None:
            self._sink(fn(*args))
            return
        self._pending.append(self._pool.submit(fn, *args))
        while len(self._pending) >= self._limit:
            self._sink(self._pending.popleft().result())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                while self._pending:
                    self._sink(self._pending.popleft().result())
        finally:
            for fut in self._pending:
                fut.cancel()
            if self._pool:
                self._pool.shutdown(wait=True)
        return False


# ---------------------------------------------------------------- decrypt
def decrypt_stream(src: BinaryIO, dst: BinaryIO, key_for: Callable[[str], DataKey] | DataKey,
                   *, verify_key: SM2PublicKey | None = None, require_signature: bool = False,
                   threads: int = 2, max_in_flight: int = 4) -> OpenResult:
    """Decrypt ``src`` into ``dst``. Plaintext reaches ``dst`` before the end is verified, so
    callers that must not expose unverified plaintext use ``decrypt_file`` (temp + rename)."""
    header = read_header(src)
    key = key_for if isinstance(key_for, DataKey) else key_for(header.key_id)
    keys = _FileKeys(key.key.reveal(), header.salt)
    if not _hmac.compare_digest(keys.check, header.check):
        raise WrongKeyError(f"key {key.key_id!r} does not open this envelope (wrong key)")
    tag = _read_exact(src, HEADER_TAG_SIZE)
    if len(tag) < HEADER_TAG_SIZE:
        raise TruncatedError("envelope ends inside its header")
    if not _hmac.compare_digest(tag, hmac_sm3(keys.mac, header.raw)):
        raise TamperedHeader("envelope header was modified")
    if require_signature and not header.signed:
        raise SignatureInvalid("envelope is not signed but a signature is required")
    header_hash = sm3(header.raw)
    signing = SM3Hasher(_SIG_LABEL + header.raw + tag) if header.signed else None
    max_frame = header.chunk_size + TAG_SIZE
    written = 0

    def sink(plain: bytes) -> None:
        nonlocal written
        dst.write(plain)
        written += len(plain)

    def open_frame(index: int, kind: int, sealed: bytes) -> bytes:
        try:
            plain = gcm_decrypt(keys.enc, _nonce(header.nonce_base, index), sealed,
                                _aad(header_hash, index, kind))
        except IntegrityError:
            raise TamperedChunk(f"chunk {index} failed authentication (modified, moved or "
                                f"reordered)") from None
        if kind == KIND_CHUNK and len(plain) != header.chunk_size:
            raise TamperedChunk(f"chunk {index} has the wrong size")
        return plain

    index = 0
    with _Pipeline(threads, max_in_flight, sink) as pipeline:
        while True:
            head = _read_exact(src, _FRAME.size)
            if not head:
                raise TruncatedError(f"envelope ends after chunk {index - 1} without its final "
                                     f"chunk (truncated)")
            if len(head) < _FRAME.size:
                raise TruncatedError(f"envelope ends inside chunk {index}")
            kind, length = _FRAME.unpack(head)
            if kind not in (KIND_CHUNK, KIND_FINAL) or not TAG_SIZE <= length <= max_frame:
                raise TamperedChunk(f"chunk {index} has a malformed frame")
            sealed = _read_exact(src, length)
            if len(sealed) < length:
                raise TruncatedError(f"envelope ends inside chunk {index}")
            if signing:
                signing.update(head + sealed)
            pipeline.submit(open_frame, index, kind, sealed)
            if kind == KIND_FINAL:
                break
            index += 1
    verified = False
    if header.signed:
        size = _read_exact(src, 2)
        sig = _read_exact(src, int.from_bytes(size, "big")) if len(size) == 2 else b""
        if len(size) < 2 or not sig or len(sig) < int.from_bytes(size, "big"):
            raise TruncatedError("envelope signature is missing or cut short")
        if verify_key is not None:
            if not verify_key.verify(signing.digest(), sig):
                raise SignatureInvalid(f"envelope signature does not verify under key "
                                       f"{verify_key.fingerprint()}")
            verified = True
    if require_signature and not verified:
        raise SignatureInvalid("envelope signature could not be checked: no verify key given")
    if src.read(1):
        raise TamperedChunk("data follows the end of the envelope (extended)")
    return OpenResult(header, written, verified)


# ---------------------------------------------------------------- files
def encrypt_file(src: str | os.PathLike, dst: str | os.PathLike, key: DataKey, **kw) -> int:
    """Encrypt a file into ``dst`` atomically (temporary file + rename)."""
    with open(src, "rb") as fin, _AtomicOutput(dst) as fout:
        return encrypt_stream(fin, fout, key, **kw)


def decrypt_file(src: str | os.PathLike, dst: str | os.PathLike,
                 key_for: Callable[[str], DataKey] | DataKey, **kw) -> OpenResult:
    """Decrypt into ``dst``; the plaintext appears under ``dst`` only if everything verified.
    On any error the temporary file is removed and ``dst`` is left untouched."""
    with open(src, "rb") as fin, _AtomicOutput(dst) as fout:
        return decrypt_stream(fin, fout, key_for, **kw)


class _AtomicOutput:
    """A 0600 temporary file beside ``path``; renamed onto it on success, deleted on error."""

    def __init__(self, path: str | os.PathLike):
        self._path = Path(path)

    def __enter__(self) -> BinaryIO:
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".part",
                                         dir=self._path.parent or ".")
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        return self._file

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            if exc_type is None:
                os.replace(self._tmp, self._path)
                return False
        finally:
            if exc_type is not None:
                self._file.close()
                try:
                    os.unlink(self._tmp)
                except FileNotFoundError:
                    pass
        return False

