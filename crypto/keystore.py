"""The keystore: one JSON file holding wrapped data keys and SM2 identities under a KEK.

Contract:
* The key-encryption key (KEK) comes from a passphrase (PBKDF2-HMAC-SM3, salt and iteration
  count stored) or from a key file (>= 32 random bytes, SM3-KDF with a stored salt). From the
  derived master secret come three values: the SM4 KEK, an HMAC-SM3 key that authenticates the
  whole keystore file, and a check value that tells a wrong passphrase apart from damage.
* Data keys (16-byte SM4) and identity private keys are wrapped with SM4-GCM under the KEK,
  with AAD = "shouwang-keystore-v1|<kind>|<id>", so a wrapped blob moved to another id fails.
* Rotation: ``new_data_key()`` makes a new current key (new data is sealed under it; old keys
  stay for reading). ``rewrap()`` re-wraps every key under a new passphrase or key file.
* Nothing secret is ever logged or written in clear; the file is written atomically with mode
  0600 under an exclusive lock, so concurrent writers cannot lose each other's keys.
FORMAT.md describes the file.
"""
from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from crypto.envelope import DataKey
from crypto.errors import (FormatError, IntegrityError, KeyFormatError, UnknownKeyId,
                           WrongPassphrase)
from crypto.kdf import DEFAULT_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS, pbkdf2_sm3, sm3_kdf
from crypto.secret import MASK, SecretBytes
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import hmac_sm3
from crypto.sm4 import gcm_decrypt, gcm_encrypt

FORMAT = "shouwang-keystore"
VERSION = 1
MIN_KEY_FILE_BYTES = 32
_AAD_PREFIX = "shouwang-keystore-v1"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode(), validate=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class KekSource:
    """Where the KEK comes from: a passphrase or a key file (exactly one). Masked repr."""

    __slots__ = ("_passphrase", "key_file")

    def __init__(self, *, passphrase: bytes | str | None = None,
                 key_file: str | os.PathLike | None = None):
        if (passphrase is None) == (key_file is None):
            raise ValueError("give exactly one of passphrase or key_file")
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        if passphrase is not None and not passphrase:
            raise ValueError("empty passphrase")
        self._passphrase = SecretBytes(passphrase) if passphrase is not None else None
        self.key_file = Path(key_file) if key_file is not None else None

    def __repr__(self):
        return f"KekSource({'passphrase=' + MASK if self._passphrase else f'key_file={self.key_file}'})"

    def new_params(self, iterations: int) -> dict:
        if self._passphrase is not None:
            if iterations < MIN_PBKDF2_ITERATIONS:
                raise ValueError(f"at least {MIN_PBKDF2_ITERATIONS} PBKDF2 iterations")
            return {"source": "passphrase", "kdf": "pbkdf2-hmac-sm3",
                    "salt": _b64(os.urandom(16)), "iterations": iterations}
        return {"source": "key-file", "kdf": "sm3-kdf", "salt": _b64(os.urandom(16))}

    def master(self, params: dict) -> bytes:
        salt = _unb64(params["salt"])
        if params["source"] == "passphrase":
            if self._passphrase is None:
                raise WrongPassphrase("this keystore is protected by a passphrase, not a key file")
            return pbkdf2_sm3(self._passphrase.reveal(), salt, int(params["iterations"]), 32)
        if self.key_file is None:
            raise WrongPassphrase("this keystore is protected by a key file, not a passphrase")
        try:
            content = self.key_file.read_bytes()
        except OSError as exc:
            raise KeyFormatError(f"cannot read key file {self.key_file}: {exc.strerror}") from None
        if len(content) < MIN_KEY_FILE_BYTES:
            raise KeyFormatError(f"key file {self.key_file} holds fewer than "
                                 f"{MIN_KEY_FILE_BYTES} bytes")
        return sm3_kdf(b"shouwang-keyfile-v1" + content + salt, 32)


def write_key_file(path: str | os.PathLike) -> None:
    """Create a new random KEK key file (32 bytes, mode 0600); refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(MIN_KEY_FILE_BYTES))


class _Kek:
    """The unlocked KEK: wrap key, file MAC key, check value and id. Masked repr."""

    __slots__ = ("wrap", "mac", "check", "kek_id")

    def __init__(self, master: bytes):
        okm = sm3_kdf(b"shouwang-keystore-v1-kek" + master, 16 + 32 + 16)
        self.wrap, self.mac, self.check = okm[:16], okm[16:48], okm[48:]
        self.kek_id = "kek-" + hmac_sm3(self.mac, b"kek-id").hex()[:12]

    def __repr__(self):
        return f"_Kek({self.kek_id}, {MASK})"

    def seal(self, kind: str, ident: str, secret: bytes) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + gcm_encrypt(self.wrap, nonce, secret, _aad(kind, ident)))

    def unseal(self, kind: str, ident: str, blob: str) -> bytes:
        raw = _unb64(blob)
        try:
            return gcm_decrypt(self.wrap, raw[:12], raw[12:], _aad(kind, ident))
        except IntegrityError:
            raise IntegrityError(f"wrapped {kind} key {ident!r} is damaged or was moved") from None


def _aad(kind: str, ident: str) -> bytes:
    return f"{_AAD_PREFIX}|{kind}|{ident}".encode()


def _canonical(doc: dict) -> bytes:
    body = {k: v for k, v in doc.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class Keystore:
    """An unlocked keystore. Mutating methods rewrite the file atomically under a lock."""

    def __init__(self, path: Path, doc: dict, kek: _Kek):
        self.path = path
        self._doc = doc
        self._kek = kek

    def __repr__(self):
        return f"Keystore({str(self.path)!r}, kek={self._kek.kek_id}, {MASK})"

    # ------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: str | os.PathLike, source: KekSource,
               iterations: int = DEFAULT_PBKDF2_ITERATIONS, *, first_data_key: bool = True
               ) -> "Keystore":
        path = Path(path)
        with _locked(path):
            if path.exists():
                raise FormatError(f"keystore {path} already exists")
            params = source.new_params(iterations)
            kek = _Kek(source.master(params))
            params["check"] = _b64(kek.check)
            doc = {"format": FORMAT, "version": VERSION, "created": _now(), "kek": params,
                   "kek_id": kek.kek_id, "current_data_key": None, "data_keys": {},
                   "identities": {}}
            store = cls(path, doc, kek)
            if first_data_key:
                store._add_data_key()
            store._write()
        return store

    @classmethod
    def open(cls, path: str | os.PathLike, source: KekSource) -> "Keystore":
        path = Path(path)
        doc = _read_doc(path)
        kek = _Kek(source.master(doc["kek"]))
        if not hmac.compare_digest(_unb64(doc["kek"]["check"]), kek.check):
            raise WrongPassphrase(f"wrong passphrase or key file for keystore {path}")
        if not hmac.compare_digest(_unb64(doc.get("mac", "")), hmac_sm3(kek.mac, _canonical(doc))):
            raise IntegrityError(f"keystore {path} was modified outside Shouwang (MAC mismatch)")
        return cls(path, doc, kek)

    # ------------------------------------------------------------ data keys
    @property
    def current_key_id(self) -> str:
        kid = self._doc["current_data_key"]
        if not kid:
            raise UnknownKeyId("the keystore has no data key yet")
        return kid

    def key_ids(self) -> list[str]:
        return list(self._doc["data_keys"])

    def data_key(self, key_id: str | None = None) -> DataKey:
        """The data key ``key_id`` (default: current) — usable as ``envelope`` key lookup."""
        key_id = key_id or self.current_key_id
        entry = self._doc["data_keys"].get(key_id)
        if entry is None:
            raise UnknownKeyId(f"key id {key_id!r} is not in keystore {self.path}")
        return DataKey(key_id, SecretBytes(self._kek.unseal("data", key_id, entry["wrapped"])))

    __call__ = data_key  # so a Keystore can be passed where envelope expects key_for(key_id)

    def new_data_key(self) -> str:
        """Create a data key, make it current, persist; returns its id."""
        with _locked(self.path):
            self._reload()
            kid = self._add_data_key()
            self._write()
        return kid

    def _add_data_key(self) -> str:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        kid = f"dk-{stamp}-{secrets.token_hex(4)}"
        self._doc["data_keys"][kid] = {"created": _now(), "wrapped":
                                       self._kek.seal("data", kid, os.urandom(16))}
        self._doc["current_data_key"] = kid
        return kid

    # ------------------------------------------------------------ identities
    def identity_names(self) -> list[str]:
        return list(self._doc["identities"])

    def create_identity(self, name: str, key: SM2PrivateKey | None = None) -> SM2PublicKey:
        """Store (or generate) the SM2 identity ``name``; returns its public key."""
        key = key or SM2PrivateKey.generate()
        with _locked(self.path):
            self._reload()
            if name in self._doc["identities"]:
                raise FormatError(f"identity {name!r} already exists in {self.path}")
            self._doc["identities"][name] = {
                "created": _now(), "public_pem": key.public_key.to_pem().decode(),
                "wrapped": self._kek.seal("identity", name, key.to_der())}
            self._write()
        return key.public_key

    def identity(self, name: str) -> SM2PrivateKey:
        entry = self._identity_entry(name)
        return SM2PrivateKey.from_der(self._kek.unseal("identity", name, entry["wrapped"]))

    def identity_public(self, name: str) -> SM2PublicKey:
        return SM2PublicKey.from_pem(self._identity_entry(name)["public_pem"])

    def _identity_entry(self, name: str) -> dict:
        entry = self._doc["identities"].get(name)
        if entry is None:
            raise UnknownKeyId(f"identity {name!r} is not in keystore {self.path}")
        return entry

    # ------------------------------------------------------------ KEK rotation
    def rewrap(self, new_source: KekSource, iterations: int = DEFAULT_PBKDF2_ITERATIONS) -> str:
        """Re-wrap every data key and identity under a KEK from ``new_source``; returns the new
        KEK id. Key ids do not change, so existing ciphertexts stay readable."""
        with _locked(self.path):
            self._reload()
            params = new_source.new_params(iterations)
            new = _Kek(new_source.master(params))
            params["check"] = _b64(new.check)
            for kid, entry in self._doc["data_keys"].items():
                entry["wrapped"] = new.seal("data", kid, self._kek.unseal("data", kid, entry["wrapped"]))
            for name, entry in self._doc["identities"].items():
                entry["wrapped"] = new.seal("identity", name,
                                            self._kek.unseal("identity", name, entry["wrapped"]))
            self._doc["kek"], self._doc["kek_id"] = params, new.kek_id
            self._doc["rewrapped"] = _now()
            self._kek = new
            self._write()
        return new.kek_id

    # ------------------------------------------------------------ persistence
    def _reload(self) -> None:
        if self.path.exists():
            doc = _read_doc(self.path)
            if not hmac.compare_digest(_unb64(doc.get("mac", "")),
                                       hmac_sm3(self._kek.mac, _canonical(doc))):
                raise IntegrityError(f"keystore {self.path} changed under another KEK or was "
                                     f"modified")
            self._doc = doc

    def _write(self) -> None:
        self._doc["mac"] = _b64(hmac_sm3(self._kek.mac, _canonical(self._doc)))
        data = json.dumps(self._doc, indent=2, sort_keys=True).encode() + b"\n"
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _read_doc(path: Path) -> dict:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise FormatError(f"keystore {path} does not exist (create it with "
                          f"`shouwang crypto keygen --keystore {path}`)") from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"keystore {path} is not readable JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{path} is not a Shouwang keystore")
    if doc.get("version") != VERSION:
        raise FormatError(f"keystore {path} has unsupported version {doc.get('version')}")
    return doc


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
