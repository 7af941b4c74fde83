"""Field protection and the crypto/audit configuration models."""
from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from crypto.envelope import DataKey
from crypto.errors import IntegrityError, WrongKeyError
from crypto.fields import FieldProtector
from crypto.secret import SecretBytes
from crypto.settings import AuditSettings, CryptoSettings, kek_source, open_audit_log

FIELDS = ["user.full_name", "shouwang.applicant.id_number", "user.phone"]


def _key(kid):
    return DataKey(kid, SecretBytes(os.urandom(16)))


TOKEN = _key("tok")


def test_protect_reveal_and_search():
    fp = FieldProtector(_key("dk1"), TOKEN, FIELDS)
    event = {"user.full_name": "张三", "shouwang.applicant.id_number": "11010519491231002X",
             "user.phone": 13800138000, "event.action": "login"}
    stored = fp.protect(event)
    assert "张三" not in str(stored) and "11010519491231002X" not in str(stored)
    assert stored["event.action"] == "login"
    assert stored["user.full_name_token"] == fp.token("user.full_name", "张三")
    assert stored["user.phone_token"] == fp.token("user.phone", 13800138000)
    assert fp.token("user.full_name", "李四") != stored["user.full_name_token"]
    revealed = fp.reveal(stored)
    assert {k: revealed[k] for k in event} == event
    assert fp.protect(stored) == stored  # idempotent


def test_same_value_other_field_gets_another_token():
    fp = FieldProtector(_key("dk1"), TOKEN, FIELDS)
    assert fp.token("user.full_name", "x") != fp.token("user.phone", "x")


def test_value_moved_between_fields_or_edited_is_rejected():
    fp = FieldProtector(_key("dk1"), TOKEN, FIELDS)
    stored = fp.protect({"user.full_name": "a", "user.phone": "b"})
    moved = dict(stored, **{"user.phone": stored["user.full_name"]})
    with pytest.raises(IntegrityError):
        fp.reveal(moved)


def test_rotated_data_key_still_reveals_and_tokens_are_stable():
    old, new = _key("dk1"), _key("dk2")
    before = FieldProtector(old, TOKEN, FIELDS).protect({"user.phone": "1"})
    after = FieldProtector(new, TOKEN, FIELDS)
    assert after.reveal(before, {"dk1": old}.__getitem__)["user.phone"] == "1"
    assert after.protect({"user.phone": "1"})["user.phone_token"] == before["user.phone_token"]
    with pytest.raises(WrongKeyError):
        after.reveal(before)


def test_settings_are_strict_and_secrets_are_references(tmp_path, monkeypatch):
    ok = CryptoSettings.model_validate({"keystore_path": str(tmp_path / "ks.json"),
                                        "kek": {"passphrase": "env:SW_KEK"}})
    assert "**********" in repr(ok)
    monkeypatch.setenv("SW_KEK", "pass")
    assert kek_source(ok.kek) is not None
    with pytest.raises(ValidationError):
        CryptoSettings.model_validate({"kek": {"passphrase": "literal-secret"}})
    with pytest.raises(ValidationError):
        CryptoSettings.model_validate({"kek": {}})
    with pytest.raises(ValidationError):
        CryptoSettings.model_validate({"kek": {"key_file": "/k"}, "typo_field": 1})
    with pytest.raises(ValidationError):
        AuditSettings.model_validate({"signing_key_path": "/k", "fsync": "sometimes"})


def test_audit_settings_open_a_working_log(tmp_path, sm2_key):
    from crypto.auditlog import verify

    (tmp_path / "sign.pem").write_bytes(sm2_key.to_pem())
    settings = AuditSettings(path=tmp_path / "audit.log", signing_key_path=tmp_path / "sign.pem",
                             checkpoint_every_records=2)
    with open_audit_log(settings) as log:
        log.append({"event.action": "config-change"})
    assert verify(tmp_path / "audit.log", sm2_key.public_key).ok
