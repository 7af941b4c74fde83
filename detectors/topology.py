"""The service topology (config/topology.yaml): systems, their components, the hosts and probe
targets that belong to each component, and what each component depends on.

    systems:
      patent-examination: {name: 专利审查系统 / Patent examination, entry: pe-lb}
    components:
      pe-lb:  {system: patent-examination, kind: load_balancer, hosts: [pe-lb-01],
               targets: ["https://pe.example.cn/health"], depends_on: [pe-app]}
      pe-app: {system: patent-examination, kind: app, depends_on: [core-db, sso, dns]}

Invariants (checked at load; errors name file, line and key):
- ids of systems and components are unique; every `system`, `entry` and `depends_on` names a
  defined one; a host or target belongs to one component only;
- the depends_on graph has no cycle (the error shows the cycle: a -> b -> a).

`resolve(finding)` says which component a finding is about: its shouwang.component when known,
else the component of its host, of its probe target / URL / domain, of its service, and last
the entry component of its system (a probe labelled only with a system tests the entry).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pydantic import Field

from core.configfile import load_layers, locate, validate
from core.errors import ConfigError
from core.settings import StrictModel

DEFAULT_TOPOLOGY_FILE = Path(__file__).resolve().parent.parent / "config" / "topology.yaml"
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class SystemSpec(StrictModel):
    name: str = Field(description="shown to people (Chinese / English)")
    entry: str = Field(description="component a system-level probe tests (its load balancer)")


class ComponentSpec(StrictModel):
    system: str
    kind: str = Field("service", description="load_balancer, app, database, dns, sso, ...")
    hosts: list[str] = Field(default_factory=list, description="host.name values")
    targets: list[str] = Field(default_factory=list, description="probe targets, URLs or "
                               "domains (shouwang.probe.target, url.full, url.domain)")
    services: list[str] = Field(default_factory=list, description="service.name values")
    depends_on: list[str] = Field(default_factory=list)


class TopologyFile(StrictModel):
    systems: dict[str, SystemSpec] = Field(min_length=1)
    components: dict[str, ComponentSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Topology:
    """A validated topology and its lookups (see the module docstring)."""

    systems: Mapping[str, SystemSpec]
    components: Mapping[str, ComponentSpec]
    by_host: Mapping[str, str]
    by_target: Mapping[str, str]
    by_service: Mapping[str, str]
    upstream: Mapping[str, frozenset]   # component -> everything it depends on, transitively

    def system_of(self, component: str) -> str:
        return self.components[component].system

    def resolve(self, finding: Mapping) -> str | None:
        component = finding.get("shouwang.component")
        if component in self.components:
            return component
        for field, table in (("host.name", self.by_host), ("host.hostname", self.by_host),
                             ("shouwang.probe.target", self.by_target),
                             ("url.full", self.by_target), ("url.domain", self.by_target),
                             ("service.name", self.by_service)):
            value = finding.get(field)
            if isinstance(value, str) and value in table:
                return table[value]
        for field in ("shouwang.system", "service.name"):
            system = self.systems.get(finding.get(field))  # type: ignore[arg-type]
            if system is not None:
                return system.entry
        return None


def _fail(doc, loc: tuple, message: str, file: str) -> ConfigError:
    where, line = locate(doc.node, loc)
    return ConfigError(message, file=where or file, line=line, key=".".join(map(str, loc)))


def _owners(doc, file: str, spec: TopologyFile, attribute: str) -> dict[str, str]:
    owners: dict[str, str] = {}
    for component_id, component in spec.components.items():
        for index, value in enumerate(getattr(component, attribute)):
            if value in owners and owners[value] != component_id:
                raise _fail(doc, ("components", component_id, attribute, index),
                            f"{value!r} already belongs to component {owners[value]!r}", file)
            owners[value] = component_id
    return owners


def _check_acyclic(doc, file: str, spec: TopologyFile) -> None:
    state: dict[str, int] = {}   # 1: on the current path, 2: done

    def visit(component_id: str, path: list[str]) -> None:
        state[component_id] = 1
        path.append(component_id)
        for index, dependency in enumerate(spec.components[component_id].depends_on):
            if state.get(dependency) == 1:
                cycle = path[path.index(dependency):] + [dependency]
                raise _fail(doc, ("components", component_id, "depends_on", index),
                            "dependency cycle: " + " -> ".join(cycle), file)
            if dependency not in state:
                visit(dependency, path)
        path.pop()
        state[component_id] = 2

    for component_id in spec.components:   # file order: the same error every time
        if component_id not in state:
            visit(component_id, [])


def build_topology(spec: TopologyFile, doc=None, file: str = "<topology>") -> Topology:
    """Check references and cycles of a parsed topology file; build its lookups."""
    for section in ("systems", "components"):
        for ident in getattr(spec, section):
            if not re.match(ID_PATTERN, ident):
                raise _fail(doc, (section, ident), f"id {ident!r} must match {ID_PATTERN}", file)
    for system_id, system in spec.systems.items():
        if system.entry not in spec.components:
            raise _fail(doc, ("systems", system_id, "entry"),
                        f"unknown component {system.entry!r}", file)
    for component_id, component in spec.components.items():
        if component.system not in spec.systems:
            raise _fail(doc, ("components", component_id, "system"),
                        f"unknown system {component.system!r}", file)
        for index, dependency in enumerate(component.depends_on):
            if dependency not in spec.components:
                raise _fail(doc, ("components", component_id, "depends_on", index),
                            f"unknown component {dependency!r}", file)
    _check_acyclic(doc, file, spec)
    upstream: dict[str, frozenset] = {}

    def closure(component_id: str) -> frozenset:
        found = upstream.get(component_id)
        if found is None:
            items: set[str] = set()
            for dependency in spec.components[component_id].depends_on:
                items.add(dependency)
                items |= closure(dependency)
            found = upstream[component_id] = frozenset(items)
        return found

    for component_id in spec.components:
        closure(component_id)
    return Topology(spec.systems, spec.components, _owners(doc, file, spec, "hosts"),
                    _owners(doc, file, spec, "targets"), _owners(doc, file, spec, "services"),
                    upstream)


def load_topology(path: str | Path = DEFAULT_TOPOLOGY_FILE) -> Topology:
    """Read, validate and build a topology file (and its .local.yaml override)."""
    doc = load_layers(path)
    spec = validate(TopologyFile, doc)
    return build_topology(spec, doc, str(path))
