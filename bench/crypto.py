"""Crypto benchmark: our figures beside `openssl speed` from the same run (a couple of minutes).

    .venv/bin/python bench/crypto.py [--seconds S]

Rows: SM3 and HMAC-SM3 (16 KiB buffers, vs `openssl speed -evp sm3` / `-hmac sm3`), SM2 sign and
verify (32-byte message incl. Z computation, vs `openssl speed sm2`), SM4-GCM envelope with 1 and
2 threads (vs raw `cryptography` SM4-GCM over the same 1 MiB chunks on one core, since the
OpenSSL 3.0 CLI has no SM4-GCM), SM4-CBC (vs `openssl speed -evp sm4-cbc`), and audit-log appends
with chaining and checkpoints. `openssl speed` runs with -elapsed so both sides are wall-clock.
MB = 10^6 bytes.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from crypto.auditlog import AuditLog  # noqa: E402
from crypto.envelope import DataKey, encrypt_stream  # noqa: E402
from crypto.secret import SecretBytes  # noqa: E402
from crypto.sm2 import SM2PrivateKey  # noqa: E402
from crypto.sm3 import hmac_sm3, sm3  # noqa: E402
from crypto.sm4 import cbc_encrypt  # noqa: E402

BUF = 16384


def rate(fn, seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of wall time (after a warm-up)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        for _ in range(8):
            fn()
        calls += 8
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def openssl_speed(*args: str, seconds: float) -> str:
    exe = shutil.which("openssl")
    if not exe:
        return ""
    out = subprocess.run([exe, "speed", "-elapsed", "-mr", "-seconds", str(max(1, int(seconds))),
                          *args], capture_output=True, text=True, timeout=120)
    return out.stdout


def openssl_bytes_rate(args: list[str], seconds: float) -> float | None:
    text = openssl_speed("-bytes", str(BUF), *args, seconds=seconds)
    match = re.search(r"^\+F:\d+:[^:]+:([\d.]+)", text, re.M)
    return float(match.group(1)) / 1e6 if match else None


def openssl_sm2(seconds: float) -> tuple[float | None, float | None]:
    text = openssl_speed("sm2", seconds=seconds)
    match = re.search(r"^\+F7:\d+:\d+:CurveSM2:([\d.]+):([\d.]+)", text, re.M)
    return (float(match.group(1)), float(match.group(2))) if match else (None, None)


def envelope_rate(data: bytes, threads: int, key: DataKey) -> float:
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        encrypt_stream(io.BytesIO(data), _Null(), key, threads=threads)
        best = max(best, len(data) / (time.perf_counter() - start) / 1e6)
    return best


def raw_gcm_rate(data: bytes, key: bytes) -> float:
    chunk = 1 << 20
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for i in range(0, len(data), chunk):
            enc = Cipher(algorithms.SM4(key), modes.GCM(os.urandom(12))).encryptor()
            enc.authenticate_additional_data(b"x" * 41)
            enc.update(data[i:i + chunk])
            enc.finalize()
        best = max(best, len(data) / (time.perf_counter() - start) / 1e6)
    return best


class _Null(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        return len(b)


def audit_rate(records: int, fsync: str) -> float:
    key = SM2PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        event = {"event.action": "login", "user.name": "alice", "source.ip": "10.0.0.7",
                 "event.outcome": "success"}
        start = time.perf_counter()
        with AuditLog(Path(tmp) / "audit.log", key, checkpoint_every_records=1000,
                      fsync=fsync) as log:
            for _ in range(records):
                log.append(event)
        return records / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--envelope-mib", type=int, default=128)
    args = parser.parse_args()
    s = args.seconds
    rows: list[tuple[str, str, float | None, str, float | None, float | None, str]] = []

    def row(name, unit, ours, peer_name, peer, target):
        ratio = ours / peer if ours and peer else None
        verdict = "" if ratio is None or target is None else ("ok" if ratio >= target else "BELOW")
        rows.append((name, unit, ours, peer_name, peer, ratio, f">= {target}x {verdict}"
                     if target else ""))

    buf = os.urandom(BUF)
    mac_key = os.urandom(32)
    row("SM3 16 KiB", "MB/s", rate(lambda: sm3(buf), s) * BUF / 1e6, "openssl speed -evp sm3",
        openssl_bytes_rate(["-evp", "sm3"], s), 0.9)
    row("HMAC-SM3 16 KiB", "MB/s", rate(lambda: hmac_sm3(mac_key, buf), s) * BUF / 1e6,
        "openssl speed -hmac sm3", openssl_bytes_rate(["-hmac", "sm3"], s), 0.9)

    key = SM2PrivateKey.generate()
    msg = os.urandom(32)
    sig = key.sign(msg)
    ossl_sign, ossl_verify = openssl_sm2(s)
    row("SM2 sign (Z + SM3 + sign)", "op/s", rate(lambda: key.sign(msg), s),
        "openssl speed sm2", ossl_sign, 1.0)
    row("SM2 verify", "op/s", rate(lambda: key.public_key.verify(msg, sig), s),
        "openssl speed sm2", ossl_verify, 0.5)

    data = os.urandom(args.envelope_mib << 20)
    dkey = DataKey("bench", SecretBytes(os.urandom(16)))
    raw = raw_gcm_rate(data, os.urandom(16))
    row("SM4-GCM envelope, 1 thread", "MB/s", envelope_rate(data, 1, dkey),
        "raw cryptography SM4-GCM 1 core", raw, 0.9)
    row("SM4-GCM envelope, 2 threads", "MB/s", envelope_rate(data, 2, dkey),
        "raw cryptography SM4-GCM 1 core", raw, 1.7)
    cbc_key, iv = os.urandom(16), os.urandom(16)
    row("SM4-CBC 16 KiB (crypto.sm4)", "MB/s", rate(lambda: cbc_encrypt(cbc_key, iv, buf), s)
        * BUF / 1e6, "openssl speed -evp sm4-cbc", openssl_bytes_rate(["-evp", "sm4-cbc"], s),
        None)
    for policy in ("batch", "never"):
        row(f"audit log append (fsync={policy})", "rec/s", audit_rate(100_000, policy),
            "target", 20_000.0, 1.0)

    print(f"{'measurement':36} {'ours':>12} {'unit':5}  {'peer (same run)':32} {'peer':>12} "
          f"{'ratio':>6}  target")
    for name, unit, ours, peer_name, peer, ratio, target in rows:
        fmt = lambda v: "-" if v is None else f"{v:,.1f}"  # noqa: E731
        print(f"{name:36} {fmt(ours):>12} {unit:5}  {peer_name:32} {fmt(peer):>12} "
              f"{'-' if ratio is None else f'{ratio:.2f}':>6}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
