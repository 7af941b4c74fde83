"""Argument helpers shared by sub-commands."""
from __future__ import annotations

import os

from config import DEFAULT_CONFIG


def add_config_argument(parser, *, positional: bool = False) -> None:
    default = os.environ.get("SHOUWANG_CONFIG", str(DEFAULT_CONFIG))
    if positional:
        parser.add_argument("config", nargs="?", default=default, metavar="FILE",
                            help=f"configuration file (default {default})")
    else:
        parser.add_argument("--config", "-c", default=default, metavar="FILE",
                            help=f"configuration file (default {default}; FILE.local.yaml beside "
                                 "it overrides)")


def load(path: str):
    from cli.app import load_settings

    return load_settings(path)
