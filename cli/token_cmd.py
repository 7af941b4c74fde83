"""`shouwang token new --role ROLE`: make an API token; prints it once with the config lines
that hold only its SHA-256 hash."""
from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("token", help="API tokens")
    commands = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    new = commands.add_parser("new", help="make a new API token")
    new.add_argument("--role", required=True,
                     help="system_admin | security_admin | audit_admin | operator | agent")
    new.add_argument("--id", default="my-token", help="the token's name in the configuration")
    new.set_defaults(handler=run_new)


def run_new(args) -> int:
    from api.roles import ROLES
    from api.tokens import generate_token
    from core.errors import InputError

    if args.role not in ROLES:
        raise InputError(f"unknown role {args.role!r}; choose one of {', '.join(sorted(ROLES))}")
    token, digest = generate_token()
    print(f"token (shown once, keep it secret): {token}")
    print("add to config/default.local.yaml:")
    print(f"api:\n  tokens:\n    {args.id}:\n      role: {args.role}\n      sha256: {digest}")
    return 0
