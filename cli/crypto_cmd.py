"""`shouwang crypto keygen | encrypt | decrypt | sign | verify | rotate`.

Exit codes: 0 ok, 2 error (wrong key or passphrase, damaged or truncated input, bad signature,
malformed key). Passphrases come from ``--passphrase-env NAME``, ``--passphrase-file PATH`` or an
interactive prompt, never from argv. Keys are never printed.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("crypto", help="SM2/SM3/SM4 keys, envelopes and signatures")
    commands = parser.add_subparsers(dest="crypto_command", metavar="ACTION", required=True)

    keygen = commands.add_parser("keygen", help="create a keystore, an identity, or an SM2 key file")
    _kek_args(keygen)
    keygen.add_argument("--keystore", type=Path, help="keystore file (created if missing)")
    keygen.add_argument("--identity", help="create this SM2 identity in the keystore")
    keygen.add_argument("--out", type=Path, help="write a standalone SM2 private key PEM here")
    keygen.add_argument("--pubout", type=Path, help="write the public key PEM here")
    keygen.add_argument("--encrypt", action="store_true",
                        help="encrypt the --out key with the passphrase (PBKDF2-HMAC-SM3 + SM4)")
    keygen.add_argument("--create-key-file", action="store_true",
                        help="create --key-file with 32 random bytes first")
    keygen.add_argument("--iterations", type=int, default=None,
                        help="PBKDF2 iterations for a new keystore / encrypted key")
    keygen.set_defaults(handler=run_keygen)

    enc = commands.add_parser("encrypt", help="encrypt a file into an envelope (SM4-GCM)")
    _kek_args(enc)
    enc.add_argument("--keystore", type=Path, required=True)
    enc.add_argument("--key-id", help="data key id (default: the current key)")
    enc.add_argument("--aad", default="", help="associated data bound into the header")
    enc.add_argument("--sign-identity", help="sign the envelope with this keystore identity")
    enc.add_argument("--threads", type=int, default=2)
    enc.add_argument("input", type=Path)
    enc.add_argument("output", type=Path)
    enc.set_defaults(handler=run_encrypt)

    dec = commands.add_parser("decrypt", help="decrypt an envelope; output appears only if intact")
    _kek_args(dec)
    dec.add_argument("--keystore", type=Path, required=True)
    dec.add_argument("--verify-pub", type=Path, help="public key PEM the signature must verify under")
    dec.add_argument("--require-signature", action="store_true")
    dec.add_argument("--threads", type=int, default=2)
    dec.add_argument("input", type=Path)
    dec.add_argument("output", type=Path)
    dec.set_defaults(handler=run_decrypt)

    sign = commands.add_parser("sign", help="SM2-sign a file (DER signature, openssl-compatible)")
    _kek_args(sign)
    sign.add_argument("--key", type=Path, help="private key PEM")
    sign.add_argument("--keystore", type=Path)
    sign.add_argument("--identity", help="keystore identity to sign with")
    sign.add_argument("--uid", default="1234567812345678", help="SM2 user id (distid)")
    sign.add_argument("--out", type=Path, help="signature file (default INPUT.sig)")
    sign.add_argument("input", type=Path)
    sign.set_defaults(handler=run_sign)

    verify = commands.add_parser("verify", help="verify an SM2 signature of a file")
    verify.add_argument("--pub", type=Path, required=True, help="public (or private) key PEM")
    verify.add_argument("--uid", default="1234567812345678")
    verify.add_argument("input", type=Path)
    verify.add_argument("signature", type=Path)
    verify.set_defaults(handler=run_verify)

    rotate = commands.add_parser("rotate", help="new current data key, or re-wrap under a new KEK")
    _kek_args(rotate)
    rotate.add_argument("--keystore", type=Path, required=True)
    rotate.add_argument("--rewrap", action="store_true",
                        help="re-wrap every key under a new KEK instead of adding a data key")
    rotate.add_argument("--new-passphrase-env", metavar="NAME")
    rotate.add_argument("--new-passphrase-file", type=Path, metavar="PATH")
    rotate.add_argument("--new-key-file", type=Path, metavar="PATH")
    rotate.add_argument("--iterations", type=int, default=None)
    rotate.set_defaults(handler=run_rotate)


def _kek_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("key-encryption key (one of; default: prompt)")
    group.add_argument("--passphrase-env", metavar="NAME", help="read the passphrase from $NAME")
    group.add_argument("--passphrase-file", type=Path, metavar="PATH",
                       help="read the passphrase from the first line of PATH")
    group.add_argument("--key-file", type=Path, metavar="PATH", help="KEK key file instead")


# ---------------------------------------------------------------- secrets from the user
def _passphrase(env: str | None, file: Path | None, *, confirm: bool = False,
                prompt: str = "Passphrase: ") -> bytes:
    from crypto.errors import CryptoError

    if env:
        value = os.environ.get(env)
        if not value:
            raise CryptoError(f"environment variable {env} is not set or empty")
        return value.encode()
    if file:
        try:
            value = file.read_text(encoding="utf-8").splitlines()[0] if file.stat().st_size else ""
        except OSError as exc:
            raise CryptoError(f"cannot read passphrase file {file}: {exc.strerror}") from None
        if not value:
            raise CryptoError(f"passphrase file {file} is empty")
        return value.encode()
    if not sys.stdin.isatty():
        raise CryptoError("no passphrase: use --passphrase-env, --passphrase-file or --key-file "
                          "(no terminal to prompt on)")
    value = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat: ") != value:
        raise CryptoError("passphrases do not match")
    if not value:
        raise CryptoError("empty passphrase")
    return value.encode()


def _kek_source(args, *, confirm: bool = False):
    from crypto.keystore import KekSource

    if args.key_file and (args.passphrase_env or args.passphrase_file):
        from crypto.errors import CryptoError
        raise CryptoError("give either a passphrase or --key-file, not both")
    if args.key_file:
        return KekSource(key_file=args.key_file)
    return KekSource(passphrase=_passphrase(args.passphrase_env, args.passphrase_file,
                                            confirm=confirm))


def _open_keystore(args):
    from crypto.keystore import Keystore

    return Keystore.open(args.keystore, _kek_source(args))


def _iterations(args) -> dict:
    return {"iterations": args.iterations} if args.iterations else {}


def _write_private(path: Path, data: bytes) -> None:
    from crypto.errors import CryptoError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CryptoError(f"{path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read(path: Path) -> bytes:
    from crypto.errors import CryptoError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise CryptoError(f"cannot read {path}: {exc.strerror}") from None


# ---------------------------------------------------------------- handlers
def run_keygen(args) -> int:
    from crypto.errors import CryptoError
    from crypto.keystore import Keystore, write_key_file
    from crypto.sm2 import SM2PrivateKey

    if args.create_key_file:
        if not args.key_file:
            raise CryptoError("--create-key-file needs --key-file PATH")
        write_key_file(args.key_file)
        print(f"created key file {args.key_file} (mode 0600): keep it off the data volume")
    if args.out:
        key = SM2PrivateKey.generate()
        secret = _passphrase(args.passphrase_env, args.passphrase_file, confirm=True) \
            if args.encrypt else None
        _write_private(args.out, key.to_pem(secret, **_iterations(args)) if secret
                       else key.to_pem())
        if args.pubout:
            args.pubout.write_bytes(key.public_key.to_pem())
        print(f"SM2 key {key.public_key.fingerprint()} written to {args.out}")
        return 0
    if not args.keystore:
        raise CryptoError("give --keystore PATH (keystore, identity) or --out PATH (key file)")
    if args.keystore.exists():
        store = _open_keystore(args)
        if not args.identity:
            raise CryptoError(f"keystore {args.keystore} exists; use `shouwang crypto rotate` for "
                              f"a new data key, or --identity NAME for an SM2 identity")
    else:
        store = Keystore.create(args.keystore, _kek_source(args, confirm=True), **_iterations(args))
        print(f"created keystore {args.keystore} with data key {store.current_key_id}")
    if args.identity:
        pub = store.create_identity(args.identity)
        if args.pubout:
            args.pubout.write_bytes(pub.to_pem())
        print(f"created identity {args.identity!r} ({pub.fingerprint()})")
    return 0


def run_encrypt(args) -> int:
    from crypto.envelope import encrypt_file

    store = _open_keystore(args)
    signer = store.identity(args.sign_identity) if args.sign_identity else None
    key = store.data_key(args.key_id)
    size = encrypt_file(_existing(args.input), args.output, key, associated_data=args.aad.encode(),
                        signer=signer, threads=args.threads)
    print(f"encrypted {size} bytes under {key.key_id}{' (signed)' if signer else ''} "
          f"-> {args.output}")
    return 0


def run_decrypt(args) -> int:
    from crypto.envelope import decrypt_file
    from crypto.sm2 import load_public_or_private

    store = _open_keystore(args)
    verify_key = load_public_or_private(_read(args.verify_pub)) if args.verify_pub else None
    result = decrypt_file(_existing(args.input), args.output, store, verify_key=verify_key,
                          require_signature=args.require_signature, threads=args.threads)
    note = ", signature verified" if result.signature_verified else (
        ", signed (signature not checked: no --verify-pub)" if result.header.signed else "")
    print(f"decrypted {result.plaintext_bytes} bytes (key {result.header.key_id}{note}) "
          f"-> {args.output}")
    return 0


def run_sign(args) -> int:
    from crypto.errors import CryptoError
    from crypto.sm2 import SM2PrivateKey

    if args.key:
        data = _read(args.key)
        secret = None
        if b"ENCRYPTED PRIVATE KEY" in data:
            secret = _passphrase(args.passphrase_env, args.passphrase_file,
                                 prompt="Key passphrase: ")
        key = SM2PrivateKey.from_pem(data, secret)
    elif args.keystore and args.identity:
        key = _open_keystore(args).identity(args.identity)
    else:
        raise CryptoError("give --key PEM, or --keystore PATH with --identity NAME")
    out = args.out or args.input.with_name(args.input.name + ".sig")
    out.write_bytes(key.sign(_read(args.input), args.uid.encode()))
    print(f"signature by {key.public_key.fingerprint()} written to {out}")
    return 0


def run_verify(args) -> int:
    from crypto.sm2 import load_public_or_private

    pub = load_public_or_private(_read(args.pub))
    pub.check(_read(args.input), _read(args.signature), args.uid.encode())
    print(f"signature OK (key {pub.fingerprint()})")
    return 0


def run_rotate(args) -> int:
    from crypto.errors import CryptoError
    from crypto.keystore import KekSource

    store = _open_keystore(args)
    if not args.rewrap:
        kid = store.new_data_key()
        print(f"new current data key {kid}; {len(store.key_ids()) - 1} older key(s) kept for "
              f"reading")
        return 0
    if args.new_key_file:
        source = KekSource(key_file=args.new_key_file)
    elif args.new_passphrase_env or args.new_passphrase_file:
        source = KekSource(passphrase=_passphrase(args.new_passphrase_env, args.new_passphrase_file))
    elif sys.stdin.isatty():
        source = KekSource(passphrase=_passphrase(None, None, confirm=True,
                                                  prompt="New passphrase: "))
    else:
        raise CryptoError("--rewrap needs --new-passphrase-env, --new-passphrase-file or "
                          "--new-key-file")
    kek_id = store.rewrap(source, **_iterations(args))
    print(f"re-wrapped {len(store.key_ids())} data key(s) and {len(store.identity_names())} "
          f"identity(ies) under {kek_id}")
    return 0


def _existing(path: Path) -> Path:
    from crypto.errors import CryptoError

    if not path.is_file():
        raise CryptoError(f"{path} is not a readable file")
    return path
