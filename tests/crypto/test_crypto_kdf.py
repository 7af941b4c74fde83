"""SM3-KDF (GB/T 32918.4) and PBKDF2-HMAC-SM3."""
from __future__ import annotations

import gmssl_pyx

from crypto import _ec
from crypto.kdf import pbkdf2_sm3, sm3_kdf
from crypto.sm3 import sm3

# GB/T 32918.5 annex A (= GM/T 0003.5 A.3) encryption example: key d_B, message
# "encryption standard"; the ciphertext C1 || C3 || C2 below was produced with k = 59276E27...
D_B = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
C1 = (0x04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73,
      0xE858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0)
C3 = bytes.fromhex("59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766")
C2 = bytes.fromhex("21886CA989CA9C7D58087307CA93092D651EFA")


def test_kdf_decrypts_the_standard_sm2_encryption_example():
    # Decrypt by hand: (x2, y2) = d_B * C1, t = KDF(x2 || y2, klen), M = C2 xor t, C3 check.
    x2, y2 = _ec.multiply(D_B, C1)
    xy = x2.to_bytes(32, "big") + y2.to_bytes(32, "big")
    t = sm3_kdf(xy, len(C2))
    message = bytes(a ^ b for a, b in zip(C2, t))
    assert message == b"encryption standard"
    assert sm3(xy[:32] + message + xy[32:]) == C3


def test_kdf_matches_libgmssl_for_many_lengths():
    z = bytes(range(64))
    for length in (1, 16, 31, 32, 33, 64, 100, 1000):
        assert sm3_kdf(z, length) == gmssl_pyx.sm3_kdf(z, length)


def test_pbkdf2_sm3_matches_openssl_kdf(openssl):
    out = openssl("kdf", "-keylen", "32", "-kdfopt", "digest:SM3", "-kdfopt", "pass:password",
                  "-kdfopt", "salt:NaCl-salt", "-kdfopt", "iter:1000", "PBKDF2").stdout
    expected = bytes.fromhex(out.decode().strip().replace(":", ""))
    assert pbkdf2_sm3(b"password", b"NaCl-salt", 1000, 32) == expected


def test_pbkdf2_depends_on_every_input():
    base = pbkdf2_sm3(b"pw", b"salt", 100)
    assert len(base) == 32
    assert pbkdf2_sm3(b"pw2", b"salt", 100) != base
    assert pbkdf2_sm3(b"pw", b"salt2", 100) != base
    assert pbkdf2_sm3(b"pw", b"salt", 101) != base
