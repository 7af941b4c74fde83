"""SM4 against GB/T 32907 and RFC 8998 vectors, and against ``openssl enc``."""
from __future__ import annotations

import os
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import IntegrityError, WrongKeyError
from crypto.sm4 import (GcmStreamEncryptor, cbc_decrypt, cbc_encrypt, ctr_crypt,
                        ecb_encrypt_block, gcm_decrypt, gcm_encrypt)

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_gbt32907_example_1():
    assert ecb_encrypt_block(KEY, KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_gbt32907_example_2_one_million_iterations():
    # The standard's second example: encrypt the block with the same key 1,000,000 times.
    # One ECB context fed block by block keeps this near one second.
    start = time.monotonic()
    enc = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()
    block = KEY
    update = enc.update
    for _ in range(1_000_000):
        block = update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"
    assert time.monotonic() - start < 30


RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
RFC8998_CT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
RFC8998_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_rfc8998_a1_sm4_gcm_vector():
    out = gcm_encrypt(RFC8998_KEY, RFC8998_IV, RFC8998_PT, RFC8998_AAD)
    assert out == RFC8998_CT + RFC8998_TAG
    assert gcm_decrypt(RFC8998_KEY, RFC8998_IV, out, RFC8998_AAD) == RFC8998_PT


def test_gcm_rejects_any_change():
    sealed = RFC8998_CT + RFC8998_TAG
    flipped = sealed[:5] + bytes([sealed[5] ^ 1]) + sealed[6:]
    with pytest.raises(IntegrityError):
        gcm_decrypt(RFC8998_KEY, RFC8998_IV, flipped, RFC8998_AAD)
    with pytest.raises(IntegrityError):
        gcm_decrypt(RFC8998_KEY, RFC8998_IV, sealed, RFC8998_AAD + b"x")
    with pytest.raises(IntegrityError):
        gcm_decrypt(os.urandom(16), RFC8998_IV, sealed, RFC8998_AAD)
    with pytest.raises(IntegrityError):
        gcm_decrypt(RFC8998_KEY, RFC8998_IV, sealed[:10], RFC8998_AAD)


def test_gcm_stream_matches_one_shot():
    key, nonce, data = os.urandom(16), os.urandom(12), os.urandom(50_000)
    enc = GcmStreamEncryptor(key, nonce, b"aad")
    body = b"".join(enc.update(data[i:i + 4096]) for i in range(0, len(data), 4096))
    assert body + enc.finalize() == gcm_encrypt(key, nonce, data, b"aad")


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096])
def test_cbc_interoperates_with_openssl_enc(openssl, tmp_path, size):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(size)
    ours = cbc_encrypt(key, iv, data)
    theirs = openssl("enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), input=data).stdout
    assert ours == theirs
    assert cbc_decrypt(key, iv, theirs) == data
    back = openssl("enc", "-d", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), input=ours).stdout
    assert back == data


def test_cbc_wrong_key_is_a_clear_error():
    key, iv = os.urandom(16), os.urandom(16)
    ct = cbc_encrypt(key, iv, b"x" * 40)
    failures = 0
    for _ in range(20):  # a wrong key yields valid padding about 1/256 of the time
        try:
            cbc_decrypt(os.urandom(16), iv, ct)
        except WrongKeyError:
            failures += 1
    assert failures >= 15


def test_ctr_matches_openssl(openssl):
    key, ctr, data = os.urandom(16), os.urandom(16), os.urandom(1000)
    theirs = openssl("enc", "-sm4-ctr", "-K", key.hex(), "-iv", ctr.hex(), input=data).stdout
    assert ctr_crypt(key, ctr, data) == theirs
    assert ctr_crypt(key, ctr, theirs) == data
