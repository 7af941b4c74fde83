"""`shouwang audit verify LOG --pub PEM`: check the hash chain, signed checkpoints and head.

Exit 0 when the log is intact; 2 with the first broken line and why otherwise.
"""
from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="tamper-evident audit log")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = commands.add_parser("verify", help="verify an audit log")
    verify.add_argument("log", type=Path, help="audit log file (its .head sits beside it)")
    verify.add_argument("--pub", type=Path, required=True,
                        help="public key PEM of the checkpoint signer")
    verify.add_argument("--no-head", action="store_true",
                        help="accept a missing .head file (tail truncation then goes unnoticed)")
    verify.set_defaults(handler=run_verify)


def run_verify(args) -> int:
    from crypto.auditlog import verify
    from crypto.errors import AuditLogBroken, CryptoError
    from crypto.sm2 import load_public_or_private

    try:
        pub = load_public_or_private(args.pub.read_bytes())
    except OSError as exc:
        raise CryptoError(f"cannot read {args.pub}: {exc.strerror}") from None
    report = verify(args.log, pub, require_head=not args.no_head)
    if not report.ok:
        raise AuditLogBroken(f"{args.log}: {report.summary()}", line=report.line,
                             reason=report.reason)
    print(f"{args.log}: {report.summary()}")
    return 0
