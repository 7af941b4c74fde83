"""The ``shouwang`` command: parses arguments and dispatches to one module per sub-command.

Each command module exposes ``add_parser(subparsers)``; the parser it adds sets
``handler=<callable(args) -> int>``. Errors we raise on purpose (``ShouwangError``) become a
one-line message on stderr and their exit code; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import EXIT_ERROR, ShouwangError

# Explicit list: the order here is the order in `shouwang --help`.
COMMAND_MODULES = [
    "cli.run_cmd",
    "cli.check_config_cmd",
    "cli.config_cmd",
    "cli.parse_cmd",
    "cli.detect_cmd",
    "cli.rules_cmd",
    "cli.token_cmd",
    "cli.crypto_cmd",
    "cli.audit_cmd",
    "cli.agent_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shouwang",
        description="Shouwang (守望): security and operations monitoring.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command still being built; the others still work
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_ERROR
    _setup_logging(args.log_level)
    try:
        return int(handler(args) or 0)
    except ShouwangError as exc:
        print(f"shouwang {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _setup_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
