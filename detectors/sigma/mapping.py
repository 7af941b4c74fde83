"""The Sigma -> ECS mapping file (config/sigma/ecs.yaml): Sigma logsources we have events for,
the event.dataset values each becomes, and Sigma field names -> our flat ECS field names.

Loaded with core.configfile (so `ecs.local.yaml` overrides key by key and errors name file,
line and key) into strict models; detectors/sigma/pipeline.py turns it into a pySigma
processing pipeline.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from core.configfile import load_layers, validate
from core.settings import StrictModel

DEFAULT_MAPPING_FILE = Path(__file__).resolve().parents[2] / "config" / "sigma" / "ecs.yaml"


class LogsourceMatch(StrictModel):
    """A Sigma logsource, matched exactly: keys left out must be absent from the rule too."""

    product: str | None = None
    category: str | None = None
    service: str | None = None

    @model_validator(mode="after")
    def _not_empty(self):
        if self.product is None and self.category is None and self.service is None:
            raise ValueError("give at least one of product, category, service")
        return self

    def matches(self, product: str | None, category: str | None, service: str | None) -> bool:
        return (self.product, self.category, self.service) == (product, category, service)

    def describe(self) -> str:
        return describe_logsource(self.product, self.category, self.service)


class LogsourceMapping(StrictModel):
    match: LogsourceMatch
    datasets: list[str] = Field(min_length=1, description="event.dataset values of its events")
    process_names: list[str] = Field(default_factory=list, description="process.name values "
                                     "(any), for services that share a dataset (sshd in "
                                     "system.auth)")
    fields: dict[str, str] = Field(default_factory=dict, description="Sigma field -> ECS field")


class SigmaMapping(StrictModel):
    fields: dict[str, str] = Field(default_factory=dict, description="Sigma field -> ECS "
                                   "field, for every logsource")
    logsources: dict[str, LogsourceMapping] = Field(default_factory=dict)

    def logsource_for(self, product, category, service) -> tuple[str, LogsourceMapping] | None:
        for name, mapping in self.logsources.items():
            if mapping.match.matches(product, category, service):
                return name, mapping
        return None


def describe_logsource(product, category, service) -> str:
    parts = [f"{key}={value}" for key, value in
             (("product", product), ("category", category), ("service", service)) if value]
    return " ".join(parts) or "(none)"


def load_mapping(path: str | Path = DEFAULT_MAPPING_FILE) -> SigmaMapping:
    return validate(SigmaMapping, load_layers(path))
