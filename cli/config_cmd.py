"""`shouwang config schema` prints the JSON Schema of the configuration;
`shouwang config show [--config FILE]` prints the effective configuration (secrets masked)."""
from __future__ import annotations

import json

from cli.common import add_config_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("config", help="configuration schema and effective values")
    commands = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = commands.add_parser("schema", help="print the JSON Schema of the configuration")
    schema.set_defaults(handler=run_schema)
    show = commands.add_parser("show", help="print the effective configuration as JSON")
    add_config_argument(show)
    show.set_defaults(handler=run_show)


def run_schema(args) -> int:
    from cli.app import default_registries, settings_model

    model = settings_model(default_registries())
    print(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))
    return 0


def run_show(args) -> int:
    from cli.common import load
    from core.secrets import MASK

    settings, _, _ = load(args.config)
    data = settings.model_dump(mode="json")
    _mask(data, MASK)
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def _mask(node, mask: str) -> None:
    """Secrets serialize as their reference (env:/file:), which is safe to show; anything
    named like a credential is masked anyway in case a model keeps one inline."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("password", "token", "api_key") and isinstance(value, str):
                node[key] = mask
            else:
                _mask(value, mask)
    elif isinstance(node, list):
        for value in node:
            _mask(value, mask)
