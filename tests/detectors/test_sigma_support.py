"""Helpers for the Sigma tests (no tests here; named test_sigma_* to sit with them): rules from
YAML text, predicates and engines over them."""
from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from detectors.engine import Engine
from detectors.sigma.loader import load_sigma_rules


def rule_text(detection: str, *, logsource: str = "category: webserver", level: str = "high",
              tags: str = "[attack.initial-access, attack.t1190]", rule_id: str | None = None,
              title: str = "test rule", extra: str = "") -> str:
    lines = [f"title: {title}", f"id: {rule_id or uuid.uuid4()}", "status: test",
             f"level: {level}", f"tags: {tags}", "logsource:",
             textwrap.indent(textwrap.dedent(logsource).strip(), "    "), "detection:",
             textwrap.indent(textwrap.dedent(detection).strip(), "    ")]
    return "\n".join(lines) + "\n" + extra


def load_texts(tmp_path: Path, *texts: str):
    directory = tmp_path / "sigma"
    directory.mkdir(exist_ok=True)
    for number, text in enumerate(texts):
        (directory / f"rule{number}.yml").write_text(text, encoding="utf-8")
    return load_sigma_rules([directory])


def predicate(tmp_path: Path, detection: str, **options):
    """The compiled predicate of one rule (it must load)."""
    loaded = load_texts(tmp_path, rule_text(detection, **options))
    assert not loaded.rejected, loaded.rejected
    (view,) = loaded.compiled.values()
    return view.predicate


def engine_for(loaded, **options) -> Engine:
    return Engine.build(loaded.active, registry=CollectorRegistry(),
                        allowed_lateness_secs=float("inf"), **options)
