"""Render the dashboards to JSON text and write them where Grafana's provider reads them."""
from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from tools.dashboards import ops, pipeline, security

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "deploy" / "grafana" / "dashboards"
DASHBOARDS = (ops, security, pipeline)


def render() -> dict[str, str]:
    """File name -> JSON text; sorted keys and a final newline, so diffs stay small."""
    return {f"{module.UID}.json": json.dumps(module.build(), cls=JSONEncoder, indent=2,
                                             sort_keys=True, ensure_ascii=False) + "\n"
            for module in DASHBOARDS}


def write(output: Path = OUTPUT) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = output / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
