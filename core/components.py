"""What a component kind's registry holds, and what a component gets when it is built.

A `ComponentSpec` ties a `type:` name to its settings model and its build function. The
application registers every spec explicitly in one place (cli/app.py) and builds components from
the validated configuration; nothing registers itself at import time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from core.metrics import PipelineMetrics
from core.registry import Registry


@dataclass(frozen=True)
class ComponentSpec:
    type: str
    settings: type[BaseModel]
    build: Callable[[str, Any, "BuildContext"], Any]
    description: str = ""


@dataclass
class BuildContext:
    """Everything a component may need from the application, passed in (no globals)."""

    data_dir: Path
    registry: CollectorRegistry
    metrics: PipelineMetrics
    parsers: Registry
    hostname: str
    clock: Callable[[], float] = time.time
    extras: dict[str, Any] = field(default_factory=dict)

    def state_dir(self, *parts: str) -> Path:
        path = self.data_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
