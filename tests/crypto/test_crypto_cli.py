"""`shouwang crypto ...` and `shouwang audit verify` as a user runs them: files, messages, exit codes."""
from __future__ import annotations

import os

import pytest

from cli.main import main

ITER = ["--iterations", "10000"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SW_PASS", "correct horse battery")
    monkeypatch.chdir(tmp_path)
    assert main(["crypto", "keygen", "--keystore", "ks.json", "--passphrase-env", "SW_PASS",
                 *ITER]) == 0
    return tmp_path


def _kek():
    return ["--keystore", "ks.json", "--passphrase-env", "SW_PASS"]


def test_encrypt_decrypt_roundtrip_with_signature(env, capsys):
    (env / "data.bin").write_bytes(os.urandom(200_000))
    assert main(["crypto", "keygen", *_kek(), "--identity", "backup", "--pubout", "b.pub"]) == 0
    assert main(["crypto", "encrypt", *_kek(), "--sign-identity", "backup", "--aad", "nightly",
                 "data.bin", "data.swev"]) == 0
    assert main(["crypto", "decrypt", *_kek(), "--verify-pub", "b.pub", "--require-signature",
                 "data.swev", "out.bin"]) == 0
    assert (env / "out.bin").read_bytes() == (env / "data.bin").read_bytes()
    assert "signature verified" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong-pass", "garbage"])
def test_bad_input_exits_2_and_leaves_no_plaintext(env, capsys, monkeypatch, damage):
    (env / "data.bin").write_bytes(os.urandom(50_000))
    assert main(["crypto", "encrypt", *_kek(), "data.bin", "data.swev"]) == 0
    blob = bytearray((env / "data.swev").read_bytes())
    if damage == "flip":
        blob[-40] ^= 1
    elif damage == "truncate":
        blob = blob[:-100]
    elif damage == "wrong-pass":
        monkeypatch.setenv("SW_PASS", "wrong")
    else:
        blob = bytearray(b"not an envelope at all")
    (env / "data.swev").write_bytes(bytes(blob))
    capsys.readouterr()
    assert main(["crypto", "decrypt", *_kek(), "data.swev", "out.bin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shouwang crypto: error: ") and err.count("\n") == 1
    assert not (env / "out.bin").exists()
    assert not [p for p in env.iterdir() if p.name.endswith(".part")]


def test_rotate_and_rewrap_keep_old_files_readable(env, monkeypatch):
    (env / "a").write_bytes(b"old")
    main(["crypto", "encrypt", *_kek(), "a", "a.swev"])
    assert main(["crypto", "rotate", *_kek()]) == 0
    (env / "b").write_bytes(b"new")
    main(["crypto", "encrypt", *_kek(), "b", "b.swev"])
    monkeypatch.setenv("SW_NEW", "a brand new passphrase")
    assert main(["crypto", "rotate", *_kek(), "--rewrap", "--new-passphrase-env", "SW_NEW",
                 *ITER]) == 0
    new = ["--keystore", "ks.json", "--passphrase-env", "SW_NEW"]
    assert main(["crypto", "decrypt", *new, "a.swev", "a.out"]) == 0
    assert main(["crypto", "decrypt", *new, "b.swev", "b.out"]) == 0
    assert (env / "a.out").read_bytes() == b"old" and (env / "b.out").read_bytes() == b"new"
    assert main(["crypto", "decrypt", *_kek(), "a.swev", "a2.out"]) == 2


def test_sign_verify_interoperate_with_openssl(env, openssl, capsys):
    assert main(["crypto", "keygen", "--out", "k.pem", "--pubout", "k.pub"]) == 0
    (env / "msg").write_bytes(b"report 2026-11")
    assert main(["crypto", "sign", "--key", "k.pem", "msg"]) == 0
    out = openssl("pkeyutl", "-verify", "-pubin", "-inkey", "k.pub", "-rawin", "-digest", "sm3",
                  "-in", "msg", "-sigfile", "msg.sig", "-pkeyopt", "distid:1234567812345678",
                  check=False)
    assert b"Signature Verified Successfully" in out.stdout
    openssl("pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3", "-in", "msg",
            "-out", "ossl.sig", "-pkeyopt", "distid:1234567812345678")
    assert main(["crypto", "verify", "--pub", "k.pub", "msg", "ossl.sig"]) == 0
    (env / "msg").write_bytes(b"report 2026-12")
    capsys.readouterr()
    assert main(["crypto", "verify", "--pub", "k.pub", "msg", "ossl.sig"]) == 2
    assert "does not verify" in capsys.readouterr().err


def test_encrypted_key_file_and_malformed_pem(env, capsys):
    assert main(["crypto", "keygen", "--out", "e.pem", "--encrypt", "--passphrase-env", "SW_PASS",
                 *ITER]) == 0
    assert b"ENCRYPTED PRIVATE KEY" in (env / "e.pem").read_bytes()
    (env / "m").write_bytes(b"x")
    assert main(["crypto", "sign", "--key", "e.pem", "--passphrase-env", "SW_PASS", "m"]) == 0
    (env / "bad.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    capsys.readouterr()
    assert main(["crypto", "verify", "--pub", "bad.pem", "m", "m.sig"]) == 2
    assert "malformed" in capsys.readouterr().err
    assert main(["crypto", "keygen", "--out", "e.pem"]) == 2  # never overwrite a key


def test_passphrase_is_never_taken_from_a_tty_less_prompt(env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    assert main(["crypto", "rotate", "--keystore", "ks.json"]) == 2
    assert "--passphrase-env" in capsys.readouterr().err


def test_audit_verify_command(env, sm2_key, capsys):
    from crypto.auditlog import AuditLog

    (env / "sign.pub").write_bytes(sm2_key.public_key.to_pem())
    with AuditLog(env / "audit.log", sm2_key, checkpoint_every_records=5) as log:
        for i in range(12):
            log.append({"event.action": "rule-change", "n": i})
    assert main(["audit", "verify", "audit.log", "--pub", "sign.pub"]) == 0
    assert "ok: 12 records" in capsys.readouterr().out
    lines = (env / "audit.log").read_bytes().splitlines(keepends=True)
    del lines[2]
    (env / "audit.log").write_bytes(b"".join(lines))
    assert main(["audit", "verify", "audit.log", "--pub", "sign.pub"]) == 2
    assert "line 3" in capsys.readouterr().err
