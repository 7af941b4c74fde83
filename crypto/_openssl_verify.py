"""SM2 signature verification through the system OpenSSL libcrypto (ctypes), when it works.

Why: libgmssl's verify runs at about 0.45x of OpenSSL's on this hardware and holds the GIL;
OpenSSL's runs at full speed and ctypes releases the GIL, so verification also scales across
cores (the audit verifier and the channel receiver are verify-bound). Verification touches only
public values, so using a second implementation here has no key-handling risk.

Contract: ``verifier()`` returns a callable ``(spki_der, digest, signature) -> bool`` or None.
It is None unless libcrypto 3.x loads, knows SM2, and passes a self-test at first use: the
GB/T 32918.5 example signature must verify and a modified one must not. Callers fall back to
gmssl-pyx when it is None. ``SHOUWANG_SM2_VERIFY=gmssl`` forces the fallback.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

_lock = threading.Lock()
_state: dict = {}
_c = ctypes.c_void_p


def _load():
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    if not hasattr(lib, "OpenSSL_version_num") or lib.OpenSSL_version_num() < 0x30000000:
        return None
    lib.d2i_PUBKEY.restype = _c
    lib.d2i_PUBKEY.argtypes = [_c, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
    lib.EVP_PKEY_free.argtypes = [_c]
    lib.EVP_PKEY_CTX_new.restype = _c
    lib.EVP_PKEY_CTX_new.argtypes = [_c, _c]
    lib.EVP_PKEY_CTX_free.argtypes = [_c]
    lib.EVP_PKEY_verify_init.argtypes = [_c]
    lib.EVP_PKEY_verify.argtypes = [_c, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                    ctypes.c_size_t]
    lib.ERR_clear_error.argtypes = []
    return lib


class _Key:
    """An EVP_PKEY for one public key, freed with the object."""

    __slots__ = ("lib", "ptr")

    def __init__(self, lib, spki: bytes):
        self.lib = lib
        buf = ctypes.c_char_p(spki)
        self.ptr = lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki))
        if not self.ptr:
            lib.ERR_clear_error()
            raise ValueError("libcrypto rejected the SM2 public key")

    def __del__(self):
        if getattr(self, "ptr", None):
            self.lib.EVP_PKEY_free(self.ptr)
            self.ptr = None


def _make(lib):
    keys: dict[bytes, _Key] = {}

    def verify(spki: bytes, digest: bytes, signature: bytes) -> bool:
        key = keys.get(spki)
        if key is None:
            key = _Key(lib, spki)
            if len(keys) > 1024:
                keys.clear()
            keys[spki] = key
        ctx = lib.EVP_PKEY_CTX_new(key.ptr, None)
        if not ctx:
            lib.ERR_clear_error()
            return False
        try:
            ok = (lib.EVP_PKEY_verify_init(ctx) == 1 and
                  lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest)) == 1)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok:
            lib.ERR_clear_error()
        return ok

    return verify


def _self_test(verify) -> bool:
    from crypto.sm2 import SM2PublicKey

    pub = SM2PublicKey(bytes.fromhex(
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
        "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"))
    e = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
    r = bytes.fromhex("00F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
    s = bytes.fromhex("00B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
    body = b"\x02\x21" + r + b"\x02\x21" + s
    sig = b"\x30" + bytes([len(body)]) + body
    bad = sig[:-1] + bytes([sig[-1] ^ 1])
    return verify(pub.to_der(), e, sig) and not verify(pub.to_der(), e, bad)


def verifier():
    """The libcrypto verify function, or None (see module docstring)."""
    with _lock:
        if "fn" not in _state:
            fn = None
            if os.environ.get("SHOUWANG_SM2_VERIFY", "").lower() != "gmssl":
                try:
                    lib = _load()
                    candidate = _make(lib) if lib is not None else None
                    if candidate is not None and _self_test(candidate):
                        fn = candidate
                except (OSError, AttributeError, ValueError):
                    fn = None
            _state["fn"] = fn
        return _state["fn"]
