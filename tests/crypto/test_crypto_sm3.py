"""SM3 and HMAC-SM3 against GB/T 32905 vectors and the openssl CLI."""
from __future__ import annotations

import os

from crypto.sm3 import HmacSM3, SM3Hasher, hmac_sm3, sm3, verify_hmac_sm3


def test_gbt32905_example_1_abc():
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_gbt32905_example_2_512_bit_message():
    assert sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")


def test_streaming_equals_one_shot():
    data = os.urandom(100_000)
    h = SM3Hasher()
    for i in range(0, len(data), 777):
        h.update(data[i:i + 777])
    assert h.digest() == sm3(data)


def test_sm3_and_hmac_match_openssl_cli(openssl, tmp_path):
    data = os.urandom(5000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    out = openssl("dgst", "-sm3", "-r", str(path)).stdout.split()[0].decode()
    assert out == sm3(data).hex()
    key = os.urandom(20)
    out = openssl("dgst", "-sm3", "-mac", "HMAC", "-macopt", f"hexkey:{key.hex()}", "-r",
                  str(path)).stdout.split()[0].decode()
    assert out == hmac_sm3(key, data).hex()


def test_hmac_streaming_and_verify():
    key, data = b"k" * 70, os.urandom(3000)  # key longer than the block: hashed first
    m = HmacSM3(key)
    m.update(data[:1000])
    m.update(data[1000:])
    mac = m.digest()
    assert mac == hmac_sm3(key, data)
    assert verify_hmac_sm3(key, data, mac)
    assert not verify_hmac_sm3(key, data + b"x", mac)
    assert not verify_hmac_sm3(b"other", data, mac)
