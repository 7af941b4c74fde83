"""Reading configuration files: YAML (safe loader only) with the line of every key kept, so
that validation errors name file, line and key.

``load_layers(path)`` reads FILE and then ``FILE.local.yaml`` style overrides (``default.yaml``
-> ``default.local.yaml``), merging mappings key by key; lists and scalars of the override
replace the shipped value. Shipped defaults are never edited.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import ConfigError


@dataclass
class ConfigDocument:
    """Merged configuration data, and the YAML node tree it came from (for error lines)."""

    data: dict
    node: yaml.Node | None
    files: list[str]


def local_override_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.local{path.suffix or '.yaml'}")


def _compose(path: Path) -> yaml.Node | None:
    try:
        with path.open("r", encoding="utf-8") as stream:
            return yaml.compose(stream, Loader=yaml.SafeLoader)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                          file=str(path)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=str(path), line=line) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _merge_nodes(base: yaml.Node | None, override: yaml.Node | None) -> yaml.Node | None:
    if base is None:
        return override
    if override is None:
        return base
    if isinstance(base, yaml.MappingNode) and isinstance(override, yaml.MappingNode):
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        index = {}
        for key_node, value_node in base.value:
            index[key_node.value] = len(merged)
            merged.append((key_node, value_node))
        for key_node, value_node in override.value:
            if key_node.value in index:
                position = index[key_node.value]
                base_key, base_value = merged[position]
                both_mappings = (isinstance(base_value, yaml.MappingNode)
                                 and isinstance(value_node, yaml.MappingNode))
                # A replaced value is located in the override, a merged mapping in the base.
                merged[position] = (base_key if both_mappings else key_node,
                                    _merge_nodes(base_value, value_node))
            else:
                index[key_node.value] = len(merged)
                merged.append((key_node, value_node))
        return yaml.MappingNode(base.tag, merged, base.start_mark, base.end_mark,
                                base.flow_style)
    return override


def _construct(node: yaml.Node | None) -> Any:
    if node is None:
        return {}
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(f"invalid YAML: {exc.problem}", file=mark.name if mark else None,
                          line=mark.line + 1 if mark else None) from None


def load_layers(path: str | Path, *, with_local: bool = True) -> ConfigDocument:
    path = Path(path)
    files = [str(path)]
    node = _compose(path)
    local = local_override_path(path)
    if with_local and local.exists():
        node = _merge_nodes(node, _compose(local))
        files.append(str(local))
    data = _construct(node)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of settings", file=str(path), line=1)
    return ConfigDocument(data=data, node=node, files=files)


def locate(node: yaml.Node | None, loc: tuple) -> tuple[str | None, int | None]:
    """File and 1-based line of the deepest node on the path `loc` (pydantic's error loc).

    Parts of `loc` that are not in the YAML (a discriminated union's tag, for instance) are
    skipped, so the line is that of the innermost key that exists.
    """
    current = node
    best = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            found = None
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    found = (key_node, value_node)
                    break
            if found is None:
                continue
            best = found[0]
            current = found[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(current.value):
                current = current.value[part]
                best = current
        else:
            continue
    if best is None:
        return None, None
    mark = best.start_mark
    return mark.name, mark.line + 1


def validate(model: type[BaseModel], doc: ConfigDocument, *, hint=None) -> BaseModel:
    """Validate merged data into `model`; the first error becomes a located ConfigError and
    the others are listed in its message so a user fixes them in one pass. `hint(error)` may
    return a better message for a pydantic error (e.g. "did you mean ...")."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        messages = []
        first_file, first_line, first_key = None, None, None
        for error in errors:
            loc = tuple(error["loc"])
            if error["type"] == "union_tag_invalid":
                # Point at the `type:` line itself, not at the block holding it.
                loc += (str(error.get("ctx", {}).get("discriminator", "type")).strip("'"),)
            file, line = locate(doc.node, loc)
            key = ".".join(str(part) for part in loc)
            text = (hint(error) if hint is not None else None) or error["msg"]
            messages.append(f"{file or doc.files[0]}:{line or '?'} [{key}]: {text}")
            if first_key is None:
                first_file, first_line, first_key = file, line, key
        message = messages[0].split(": ", 1)[1].split("]: ", 1)[-1]
        if len(messages) > 1:
            message += "\n  " + "\n  ".join(messages[1:])
        raise ConfigError(message, file=first_file or doc.files[0], line=first_line,
                          key=first_key) from None
