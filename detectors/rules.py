"""Rule files: the fields every rule shares, and loading a directory of them.

One rule per YAML file in config/rules/ (`*.local.yaml` overrides a shipped file key by key, as
for the main configuration). A rule's `type:` picks its model and detector from a registry of
rule types (detectors/catalog.py); unknown types suggest the closest name. Validation is strict
and errors name file, line and key.

Every rule carries what an analyst needs beside the alert: ATT&CK tactic and technique, a
severity, references and known false positives, and a reason template in English and Chinese.
Templates name event fields in braces ("{source.ip}") plus `{count}` and `{window_secs}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field

from core.configfile import load_layers, validate
from core.errors import ConfigError
from core.registry import Registry
from core.settings import StrictModel
from detectors.conditions import FieldTest

Severity = Literal["critical", "high", "medium", "low"]
DEFAULT_MAX_KEYS = 100_000


class AttackRef(StrictModel):
    """An ATT&CK tactic or technique: id and name as in ATT&CK v18."""

    id: str = Field(pattern=r"^(TA\d{4}|T\d{4}(\.\d{3})?)$")
    name: str


class Reason(StrictModel):
    en: str
    zh: str


class RuleBase(StrictModel):
    """Fields shared by every rule type."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="stable id; names the "
                    "samples file tests/samples/<id>.log")
    name: str
    description: str
    enabled: bool = True
    severity: Severity
    tactic: AttackRef
    technique: AttackRef = Field(description="the parent technique (T1110)")
    subtechnique: AttackRef | None = Field(None, description="T1110.001, when one applies")
    references: list[str] = Field(min_length=1)
    false_positives: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list, description="event.dataset values this "
                                "rule reads; the engine shows it no other events")
    categories: list[str] = Field(default_factory=list, description="event.category values "
                                  "(any of them); used when datasets is empty")
    match: dict[str, FieldTest] = Field(default_factory=dict)
    any_of: list[dict[str, FieldTest]] = Field(default_factory=list, description="alternative "
                                               "condition sets: at least one must hold too")
    unless: dict[str, FieldTest] = Field(default_factory=dict)
    key: list[str] = Field(default_factory=lambda: ["source.ip"], min_length=1)
    window_secs: float = Field(gt=0, le=86_400)
    max_keys: int = Field(DEFAULT_MAX_KEYS, ge=1, description="keys kept at once; the least "
                          "recently seen is evicted (and counted) beyond this")
    reason: Reason


@dataclass(frozen=True)
class RuleType:
    """A `type:` of rule file: its settings model and the detector built from it."""

    name: str
    model: type[RuleBase]
    detector: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class LoadedRule:
    rule: RuleBase
    file: str
    kind: RuleType


def rule_files(directory: str | Path) -> list[Path]:
    """Shipped rule files of a directory, sorted (so load order and output are stable)."""
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError("rules directory not found", file=str(path))
    return sorted(p for p in path.glob("*.yaml") if not p.name.endswith(".local.yaml"))


def load_rule(path: Path, types: Registry[RuleType]) -> LoadedRule:
    doc = load_layers(path)
    type_name = doc.data.get("type")
    if not isinstance(type_name, str):
        raise ConfigError("missing 'type' (one of: " + ", ".join(types) + ")", file=str(path),
                          line=1, key="type")
    if type_name not in types:
        raise ConfigError(types.unknown_message(type_name), file=str(path), key="type")
    kind = types.get(type_name)
    rule = validate(kind.model, doc)
    return LoadedRule(rule=rule, file=str(path), kind=kind)


def load_rules(directory: str | Path, types: Registry[RuleType], *,
               include_disabled: bool = False) -> list[LoadedRule]:
    loaded: list[LoadedRule] = []
    seen: dict[str, str] = {}
    for path in rule_files(directory):
        item = load_rule(path, types)
        if item.rule.id in seen:
            raise ConfigError(f"rule id {item.rule.id!r} is also used by {seen[item.rule.id]}",
                              file=item.file, key="id")
        seen[item.rule.id] = item.file
        if item.rule.enabled or include_disabled:
            loaded.append(item)
    return loaded
