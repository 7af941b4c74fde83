"""The envelope: round trips of many sizes, every kind of damage detected with a specific
error, nothing left on disk after a failed decrypt, signatures, constant memory."""
from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.envelope import (DataKey, decrypt_file, decrypt_stream,
                             encrypt_file, encrypt_stream, read_header)
from crypto.errors import (FormatError, IntegrityError, SignatureInvalid, TamperedChunk,
                           TamperedHeader, TruncatedError, WrongKeyError)
from crypto.secret import SecretBytes

SMALL = 12  # 4 KiB chunks keep the damage tests fast and multi-chunk


def _key(key_id="dk-test"):
    return DataKey(key_id, SecretBytes(os.urandom(16)))


KEY = _key()


def _seal(data: bytes, **kw) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, kw.pop("key", KEY), chunk_log2=SMALL, **kw)
    return out.getvalue()


def _open(blob: bytes, **kw) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, kw.pop("key", KEY), **kw)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 50_000])
@pytest.mark.parametrize("threads", [1, 2])
def test_roundtrip_sizes(size, threads):
    data = os.urandom(size)
    assert _open(_seal(data, threads=threads), threads=threads) == data


def test_header_carries_key_id_and_associated_data():
    blob = _seal(b"payload", associated_data=b"backup/2026-11-25.tar")
    header = read_header(io.BytesIO(blob))
    assert header.key_id == "dk-test"
    assert header.associated_data == b"backup/2026-11-25.tar"
    assert header.chunk_size == 4096 and not header.signed


def test_same_plaintext_twice_gives_unrelated_ciphertexts():
    assert _seal(b"a" * 10_000)[60:] != _seal(b"a" * 10_000)[60:]


def test_wrong_key_is_wrong_key_error():
    with pytest.raises(WrongKeyError):
        _open(_seal(b"secret"), key=DataKey("dk-test", SecretBytes(os.urandom(16))))


def test_header_edit_is_tampered_header():
    blob = bytearray(_seal(b"x" * 9000, associated_data=b"name"))
    aad_pos = blob.index(b"name")
    blob[aad_pos] ^= 0x20
    with pytest.raises(TamperedHeader):
        _open(bytes(blob))


def _frames(blob: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Split an envelope into header+tag, frames, trailer (test helper, mirrors FORMAT.md)."""
    src = io.BytesIO(blob)
    header = read_header(src)
    start = len(header.raw) + 32
    pos, frames = start, []
    while True:
        kind, length = blob[pos], int.from_bytes(blob[pos + 1:pos + 5], "big")
        frames.append(blob[pos:pos + 5 + length])
        pos += 5 + length
        if kind == 1:
            break
    return blob[:start], frames, blob[pos:]


def test_reordered_chunks_are_detected():
    head, frames, tail = _frames(_seal(os.urandom(4096 * 4)))
    frames[1], frames[2] = frames[2], frames[1]
    with pytest.raises(TamperedChunk):
        _open(head + b"".join(frames) + tail)


def test_dropped_and_duplicated_chunks_are_detected():
    head, frames, tail = _frames(_seal(os.urandom(4096 * 4)))
    with pytest.raises(TamperedChunk):
        _open(head + b"".join(frames[:1] + frames[2:]) + tail)
    with pytest.raises(TamperedChunk):
        _open(head + b"".join(frames[:2] + frames[1:]) + tail)


def test_truncation_at_a_chunk_boundary_is_truncated_error():
    head, frames, _ = _frames(_seal(os.urandom(4096 * 4)))
    with pytest.raises(TruncatedError):
        _open(head + b"".join(frames[:-1]))
    with pytest.raises(TruncatedError):
        _open(head)


def test_extension_is_detected():
    blob = _seal(os.urandom(5000))
    with pytest.raises(TamperedChunk):
        _open(blob + b"\x00")
    head, frames, tail = _frames(blob)
    with pytest.raises(TamperedChunk):
        _open(head + b"".join(frames) + frames[0])


def test_chunk_from_another_file_under_same_key_is_rejected():
    head_a, frames_a, _ = _frames(_seal(os.urandom(4096 * 3)))
    _, frames_b, _ = _frames(_seal(os.urandom(4096 * 3)))
    with pytest.raises(TamperedChunk):
        _open(head_a + frames_b[0] + b"".join(frames_a[1:]))


def test_not_an_envelope():
    with pytest.raises(FormatError):
        _open(b"PK\x03\x04 this is a zip")


def test_signed_envelope(sm2_key, other_sm2_key):
    blob = _seal(os.urandom(10_000), signer=sm2_key)
    assert read_header(io.BytesIO(blob)).signed
    out = io.BytesIO()
    result = decrypt_stream(io.BytesIO(blob), out, KEY, verify_key=sm2_key.public_key)
    assert result.signature_verified
    with pytest.raises(SignatureInvalid):
        _open(blob, verify_key=other_sm2_key.public_key)
    with pytest.raises(TruncatedError):  # stripping the signature
        _open(_frames(blob)[0] + b"".join(_frames(blob)[1]))
    with pytest.raises(SignatureInvalid):
        _open(_seal(b"unsigned"), require_signature=True, verify_key=sm2_key.public_key)


def test_signature_covers_ciphertext_even_for_a_key_holder(sm2_key):
    # Someone holding the data key re-encrypts a chunk: tags pass, the signature must not.
    blob = _seal(os.urandom(9000), signer=sm2_key)
    head, frames, trailer = _frames(blob)
    forged = bytearray(trailer)
    forged[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        _open(head + b"".join(frames) + bytes(forged), verify_key=sm2_key.public_key)


# ---------------------------------------------------------------- files on disk
def test_decrypt_file_leaves_nothing_on_failure(tmp_path):
    src, enc, out = tmp_path / "plain.bin", tmp_path / "plain.swev", tmp_path / "restored.bin"
    src.write_bytes(os.urandom(100_000))
    encrypt_file(src, enc, KEY, chunk_log2=SMALL)
    damaged = bytearray(enc.read_bytes())
    damaged[-100] ^= 1  # inside the last chunks: earlier plaintext was already produced
    enc.write_bytes(bytes(damaged))
    with pytest.raises(TamperedChunk):
        decrypt_file(enc, out, KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bin", "plain.swev"]


def test_decrypt_file_does_not_clobber_existing_target_on_failure(tmp_path):
    enc, out = tmp_path / "x.swev", tmp_path / "x"
    out.write_bytes(b"previous content")
    enc.write_bytes(_seal(b"new content")[:-3])
    with pytest.raises(IntegrityError):
        decrypt_file(enc, out, KEY)
    assert out.read_bytes() == b"previous content"


def test_file_roundtrip_with_key_lookup(tmp_path):
    src, enc, out = tmp_path / "a", tmp_path / "a.swev", tmp_path / "b"
    src.write_bytes(os.urandom(3 << 20))
    keys = {"old": _key("old"), "new": _key("new")}
    encrypt_file(src, enc, keys["old"])
    result = decrypt_file(enc, out, keys.__getitem__)
    assert out.read_bytes() == src.read_bytes()
    assert result.header.key_id == "old" and result.plaintext_bytes == 3 << 20
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_memory_stays_bounded_for_a_large_stream():
    # 64 MiB through the pipeline with 1 MiB chunks: peak traced allocation stays a few chunks.
    import tracemalloc

    class Zeros(io.RawIOBase):
        def __init__(self, n):
            self.left = n

        def readable(self):
            return True

        def readinto(self, b):
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    class Sink(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return len(b)

    tracemalloc.start()
    encrypt_stream(io.BufferedReader(Zeros(64 << 20)), Sink(), KEY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 << 20


# ---------------------------------------------------------------- random damage
BLOB = _seal(os.urandom(3 * 4096 + 100), associated_data=b"aad")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_is_detected(data):
    pos = data.draw(st.integers(0, len(BLOB) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(BLOB)
    damaged[pos] ^= 1 << bit
    with pytest.raises((IntegrityError, WrongKeyError, FormatError)):
        _open(bytes(damaged))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_cut_is_detected(data):
    start = data.draw(st.integers(0, len(BLOB) - 1))
    length = data.draw(st.integers(1, len(BLOB) - start))
    damaged = BLOB[:start] + BLOB[start + length:]
    with pytest.raises((IntegrityError, WrongKeyError, FormatError)):
        _open(damaged)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_any_insertion_is_detected(extra):
    pos = len(BLOB) // 2
    with pytest.raises((IntegrityError, WrongKeyError, FormatError)):
        _open(BLOB[:pos] + extra + BLOB[pos:])
