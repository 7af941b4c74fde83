"""Keystore: passphrase and key-file KEKs, rotation, re-wrap, tamper and secrecy."""
from __future__ import annotations

import io
import json

import pytest

from crypto.envelope import decrypt_stream, encrypt_stream
from crypto.errors import FormatError, IntegrityError, KeyFormatError, UnknownKeyId, WrongPassphrase
from crypto.keystore import KekSource, Keystore, write_key_file

ITER = 10_000  # the minimum: keeps tests fast; production default is 300,000


@pytest.fixture
def store(tmp_path):
    return Keystore.create(tmp_path / "ks.json", KekSource(passphrase="s3cret pass"), ITER)


def _seal(key, data=b"hello"):
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


def _open(store, blob):
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, store)
    return out.getvalue()


def test_create_open_and_use(store, tmp_path):
    again = Keystore.open(tmp_path / "ks.json", KekSource(passphrase="s3cret pass"))
    assert again.current_key_id == store.current_key_id
    assert again.data_key().key == store.data_key().key
    assert oct((tmp_path / "ks.json").stat().st_mode & 0o777) == "0o600"


def test_file_never_holds_a_key_in_clear(store, tmp_path):
    raw = (tmp_path / "ks.json").read_bytes()
    key = store.data_key().key.reveal()
    assert key not in raw and key.hex().encode() not in raw
    assert "**********" in repr(store) and "**********" in repr(store.data_key())


def test_wrong_passphrase(store, tmp_path):
    with pytest.raises(WrongPassphrase):
        Keystore.open(tmp_path / "ks.json", KekSource(passphrase="guess"))
    with pytest.raises(WrongPassphrase):
        Keystore.open(tmp_path / "ks.json", KekSource(key_file=tmp_path / "nope"))


def test_rotation_keeps_old_data_readable(store):
    old_blob = _seal(store.data_key(), b"old data")
    old_id = store.current_key_id
    new_id = store.new_data_key()
    assert new_id != old_id and store.current_key_id == new_id
    new_blob = _seal(store.data_key(), b"new data")
    assert _open(store, old_blob) == b"old data"
    assert _open(store, new_blob) == b"new data"
    with pytest.raises(UnknownKeyId):
        store.data_key("dk-missing")


def test_rewrap_under_key_file(store, tmp_path):
    blob = _seal(store.data_key(), b"before rewrap")
    store.create_identity("server")
    kf = tmp_path / "kek.key"
    write_key_file(kf)
    store.rewrap(KekSource(key_file=kf))
    with pytest.raises(WrongPassphrase):
        Keystore.open(tmp_path / "ks.json", KekSource(passphrase="s3cret pass"))
    reopened = Keystore.open(tmp_path / "ks.json", KekSource(key_file=kf))
    assert _open(reopened, blob) == b"before rewrap"
    assert reopened.identity("server").public_key == store.identity_public("server")


def test_short_key_file_is_rejected(tmp_path):
    kf = tmp_path / "short.key"
    kf.write_bytes(b"too short")
    with pytest.raises(KeyFormatError):
        Keystore.create(tmp_path / "ks.json", KekSource(key_file=kf))


def test_identities(store, tmp_path):
    pub = store.create_identity("agent-01")
    key = store.identity("agent-01")
    assert key.public_key == pub
    assert pub.verify(b"m", key.sign(b"m"))
    with pytest.raises(FormatError):
        store.create_identity("agent-01")
    with pytest.raises(UnknownKeyId):
        store.identity("agent-02")


def test_edited_keystore_is_detected(store, tmp_path):
    store.new_data_key()
    path = tmp_path / "ks.json"
    doc = json.loads(path.read_text())
    ids = sorted(doc["data_keys"])
    doc["current_data_key"] = ids[0] if doc["current_data_key"] == ids[1] else ids[1]
    path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError):
        Keystore.open(path, KekSource(passphrase="s3cret pass"))


def test_swapped_wrapped_keys_are_detected(store, tmp_path):
    store.new_data_key()
    k1, k2 = store.key_ids()
    entries = store._doc["data_keys"]
    entries[k1]["wrapped"], entries[k2]["wrapped"] = entries[k2]["wrapped"], entries[k1]["wrapped"]
    with pytest.raises(IntegrityError):
        store.data_key(k1)


def test_missing_keystore_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        Keystore.open(tmp_path / "none.json", KekSource(passphrase="x"))
