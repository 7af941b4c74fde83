"""`shouwang run [--config FILE]`: start the monitor in the foreground until SIGINT/SIGTERM."""
from __future__ import annotations

import asyncio

from cli.common import add_config_argument, load


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("run", help="start the monitor (API and /metrics on "
                                   "127.0.0.1:8700 by default)")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cli.monitor import Monitor

    settings, document, registries = load(args.config)
    monitor = Monitor(settings, registries, config_files=document.files)
    return asyncio.run(monitor.run())
