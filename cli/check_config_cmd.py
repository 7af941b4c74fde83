"""`shouwang check-config [FILE]`: validate the configuration and build every component without
starting anything, then run health checks (data directory writable, secrets resolvable, which
watched files exist). Exit 0 when all is well, 1 with warnings, 2 when the config is invalid."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cli.common import add_config_argument, load
from core.errors import EXIT_FINDINGS, EXIT_OK, ShouwangError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check-config", help="validate the configuration and build "
                                   "its components without starting them")
    add_config_argument(parser, positional=True)
    parser.set_defaults(handler=run)


def _data_dir_writable(path: Path) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".check-"):
            pass
    except OSError as exc:
        return f"data directory {path} is not writable: {exc.strerror}"
    return None


def _secret_problems(settings) -> list[str]:
    problems = []
    for token_id, token in (getattr(settings.api, "tokens", None) or {}).items():
        secret = getattr(token, "secret", None)
        if secret is None:
            continue
        try:
            secret.reveal()
        except ShouwangError as exc:
            problems.append(f"api.tokens.{token_id}: {exc}")
    return problems


def run(args) -> int:
    from cli.monitor import Monitor

    settings, document, registries = load(args.config)
    warnings: list[str] = []
    problem = _data_dir_writable(Path(settings.node.data_dir))
    if problem:
        warnings.append(problem)
    warnings += _secret_problems(settings)
    # Building is the real check: it is what `run` does before it starts anything.
    with open(os.devnull, "w") as quiet:
        monitor = Monitor(settings, registries, config_files=document.files, out=quiet)
    print(f"configuration OK: {', '.join(document.files)}")
    print(f"  store: {settings.store.type}")
    for source in monitor.sources:
        for what in source.describe():
            print(f"  source [{source.id}] {what}")
    print(f"  API: {monitor.api_url}")
    for warning in warnings:
        print(f"warning: {warning}")
    return EXIT_FINDINGS if warnings else EXIT_OK
