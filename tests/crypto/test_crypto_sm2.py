"""SM2: the GB/T 32918 examples, tamper cases, PEM formats, and interop with the openssl CLI."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crypto.errors import KeyFormatError, SignatureInvalid, WrongKeyError, WrongPassphrase
from crypto.sm2 import SM2PrivateKey, SM2PublicKey

# GB/T 32918.5-2017 annex A / GM/T 0003.5-2012 A.2 (recommended curve, ID 1234567812345678).
STD_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
STD_PUB = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
STD_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
STD_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
STD_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
STD_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
# A.3 encryption of "encryption standard", DER C1C3C2 (GM/T 0009 form).
STD_CIPHERTEXT = bytes.fromhex(
    "307c022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73022100E858F9D8"
    "1E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0042059983C18F809E262923C53AEC2"
    "95D30383B54E39D609D160AFCB1908D0BD8766041321886CA989CA9C7D58087307CA93092D651EFA")


def _der_sig(r: int, s: int) -> bytes:
    def integer(n):
        body = n.to_bytes(n.bit_length() // 8 + 1, "big")
        return b"\x02" + bytes([len(body)]) + body
    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def test_standard_key_z_and_digest():
    pub = SM2PublicKey(STD_PUB)
    assert pub.z().hex().upper() == STD_Z
    assert pub.digest(b"message digest").hex().upper() == STD_E


def test_standard_signature_verifies_and_edits_do_not():
    pub = SM2PublicKey(STD_PUB)
    sig = _der_sig(STD_R, STD_S)
    assert pub.verify(b"message digest", sig)
    assert not pub.verify(b"message digesT", sig)
    assert not pub.verify(b"message digest", _der_sig(STD_R, STD_S + 1))
    assert not pub.verify(b"message digest", sig, uid=b"ALICE123@YAHOO.COM")
    with pytest.raises(SignatureInvalid):
        pub.check(b"other", sig)


def test_standard_private_key_derives_standard_public_key():
    # The key stored without its public point: we derive it and must land on the standard's.
    assert SM2PrivateKey(STD_D).public_key.raw == STD_PUB


def test_standard_encryption_example_decrypts():
    key = SM2PrivateKey(STD_D, SM2PublicKey(STD_PUB))
    assert key.decrypt(STD_CIPHERTEXT) == b"encryption standard"


def test_sign_verify_roundtrip_and_other_key(sm2_key, other_sm2_key):
    sig = sm2_key.sign(b"batch")
    assert sm2_key.public_key.verify(b"batch", sig)
    assert not other_sm2_key.public_key.verify(b"batch", sig)
    assert not sm2_key.public_key.verify(b"batch", sig + b"\x00")  # trailing byte: not DER
    uid_sig = sm2_key.sign(b"batch", uid=b"agent-7")
    assert sm2_key.public_key.verify(b"batch", uid_sig, uid=b"agent-7")
    assert not sm2_key.public_key.verify(b"batch", uid_sig)


def test_encrypt_decrypt_and_tamper(sm2_key, other_sm2_key):
    ct = sm2_key.public_key.encrypt(b"k" * 16)
    assert sm2_key.decrypt(ct) == b"k" * 16
    with pytest.raises(WrongKeyError):
        other_sm2_key.decrypt(ct)
    with pytest.raises(WrongKeyError):
        sm2_key.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]))  # C2 changed: C3 check fails
    with pytest.raises(ValueError):
        sm2_key.public_key.encrypt(b"x" * 256)


def test_failures_print_nothing_on_stderr(tmp_path):
    # libgmssl writes traces on fd 2 when verify/decrypt fail; a user must not see them.
    script = (
        "from crypto.sm2 import SM2PrivateKey\n"
        "from crypto.errors import WrongKeyError\n"
        "k = SM2PrivateKey.generate()\n"
        "s = k.sign(b'a')\n"
        "assert not k.public_key.verify(b'b', s)\n"
        "try:\n    k.decrypt(k.public_key.encrypt(b'abc')[:-1] + b'x')\n"
        "except WrongKeyError:\n    pass\n"
        "import sys; print('after', file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                         cwd=os.getcwd())
    assert out.returncode == 0, out.stderr
    assert out.stderr == b"after\n"


def test_key_repr_hides_the_secret(sm2_key):
    text = repr(sm2_key) + str(sm2_key)
    assert "**********" in text
    assert sm2_key.to_der().hex() not in text


def test_pem_roundtrip_and_encrypted_pem(sm2_key):
    again = SM2PrivateKey.from_pem(sm2_key.to_pem())
    assert again.public_key == sm2_key.public_key
    assert SM2PublicKey.from_pem(sm2_key.public_key.to_pem()) == sm2_key.public_key
    sealed = sm2_key.to_pem(b"correct horse", iterations=10_000)
    assert b"ENCRYPTED PRIVATE KEY" in sealed
    assert SM2PrivateKey.from_pem(sealed, b"correct horse").public_key == sm2_key.public_key
    with pytest.raises(WrongPassphrase):
        SM2PrivateKey.from_pem(sealed, b"wrong horse")
    with pytest.raises(WrongPassphrase):
        SM2PrivateKey.from_pem(sealed)


@pytest.mark.parametrize("bad", [
    b"", b"not a pem", b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
])
def test_malformed_pem_is_key_format_error(bad):
    with pytest.raises(KeyFormatError):
        SM2PrivateKey.from_pem(bad)
    with pytest.raises(KeyFormatError):
        SM2PublicKey.from_pem(bad)


def test_truncated_and_non_sm2_keys_are_rejected(sm2_key, openssl):
    pem = sm2_key.to_pem()
    with pytest.raises(KeyFormatError):
        SM2PrivateKey.from_pem(pem[:60] + pem[-26:])
    p256 = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256").stdout
    with pytest.raises(KeyFormatError):
        SM2PrivateKey.from_pem(p256)


def test_off_curve_public_key_is_rejected():
    with pytest.raises(KeyFormatError):
        SM2PublicKey(STD_PUB[:-1] + bytes([STD_PUB[-1] ^ 1]))


# ---------------------------------------------------------------- openssl interop
DISTID = "distid:1234567812345678"


def test_openssl_reads_our_keys_and_verifies_our_signature(openssl, sm2_key, tmp_path):
    key, pub, msg, sig = (tmp_path / n for n in ("k.pem", "p.pem", "m.bin", "s.der"))
    key.write_bytes(sm2_key.to_pem())
    pub.write_bytes(sm2_key.public_key.to_pem())
    msg.write_bytes(b"audit checkpoint 42")
    sig.write_bytes(sm2_key.sign(b"audit checkpoint 42"))
    text = openssl("pkey", "-in", str(key), "-noout", "-text").stdout
    assert b"SM2" in text or b"ASN1 OID: SM2" in text
    openssl("pkey", "-pubin", "-in", str(pub), "-noout")
    out = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
                  "-in", str(msg), "-sigfile", str(sig), "-pkeyopt", DISTID, check=False)
    assert b"Signature Verified Successfully" in out.stdout, out.stderr
    out = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
                  "-in", str(msg), "-sigfile", str(sig), check=False)
    assert out.returncode != 0  # OpenSSL 3.0 without distid uses an empty ID: must not match


def test_we_verify_openssl_signatures_and_read_its_keys(openssl, tmp_path):
    key, msg, sig = tmp_path / "k.pem", tmp_path / "m.bin", tmp_path / "s.der"
    key.write_bytes(openssl("genpkey", "-algorithm", "SM2").stdout)
    msg.write_bytes(b"from openssl")
    openssl("pkeyutl", "-sign", "-inkey", str(key), "-rawin", "-digest", "sm3",
            "-in", str(msg), "-out", str(sig), "-pkeyopt", DISTID)
    ours = SM2PrivateKey.from_pem(key.read_bytes())
    assert ours.public_key.verify(b"from openssl", sig.read_bytes())
    # and `openssl dgst -sign` with -sigopt, the other documented spelling
    sig2 = openssl("dgst", "-sm3", "-sign", str(key), "-sigopt", DISTID, str(msg)).stdout
    assert ours.public_key.verify(b"from openssl", sig2)
    pub_pem = openssl("pkey", "-in", str(key), "-pubout").stdout
    assert SM2PublicKey.from_pem(pub_pem) == ours.public_key


def test_encryption_interop_both_ways(openssl, sm2_key, tmp_path):
    key, pub, ct = tmp_path / "k.pem", tmp_path / "p.pem", tmp_path / "ct.der"
    key.write_bytes(sm2_key.to_pem())
    pub.write_bytes(sm2_key.public_key.to_pem())
    ct.write_bytes(sm2_key.public_key.encrypt(b"session key 0123"))
    out = openssl("pkeyutl", "-decrypt", "-inkey", str(key), "-in", str(ct)).stdout
    assert out == b"session key 0123"
    theirs = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub),
                     input=b"from openssl side").stdout
    assert sm2_key.decrypt(theirs) == b"from openssl side"


def test_libcrypto_and_libgmssl_verifiers_agree(sm2_key, other_sm2_key):
    import gmssl_pyx

    from crypto import _openssl_verify

    fast = _openssl_verify.verifier()
    if fast is None:
        pytest.skip("system libcrypto without SM2: the libgmssl path is the only one")
    for i in range(20):
        msg = os.urandom(i * 7)
        sig = sm2_key.sign(msg)
        for key in (sm2_key.public_key, other_sm2_key.public_key):
            e = key.digest(msg)
            assert fast(key.to_der(), e, sig) == gmssl_pyx.sm2_verify_sm3_digest(key.raw, e, sig)


def test_gmssl_fallback_verifier_works(tmp_path):
    script = ("from crypto.sm2 import SM2PrivateKey\nfrom crypto import _openssl_verify\n"
              "assert _openssl_verify.verifier() is None\n"
              "k = SM2PrivateKey.generate(); s = k.sign(b'a')\n"
              "assert k.public_key.verify(b'a', s) and not k.public_key.verify(b'b', s)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                         env={**os.environ, "SHOUWANG_SM2_VERIFY": "gmssl"})
    assert out.returncode == 0 and out.stderr == b"", out.stderr
