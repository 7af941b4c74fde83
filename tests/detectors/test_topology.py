"""The topology file: the shipped example loads; broken references and cycles are located."""
from __future__ import annotations

import textwrap

import pytest

from core.errors import ConfigError
from detectors.topology import DEFAULT_TOPOLOGY_FILE, load_topology


def write(tmp_path, text):
    path = tmp_path / "topology.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_topology_resolves_hosts_targets_and_systems():
    topology = load_topology(DEFAULT_TOPOLOGY_FILE)
    assert topology.resolve({"host.name": "core-db-02"}) == "core-db"
    assert topology.resolve({"shouwang.probe.target": "https://pe.ipo.example.cn/health"}) == "pe-lb"
    assert topology.resolve({"shouwang.system": "public-search"}) == "search-lb"
    assert topology.resolve({"shouwang.component": "sso", "host.name": "pe-app-01"}) == "sso"
    assert topology.resolve({"host.name": "laptop-17"}) is None
    assert {"core-db", "sso", "dns"} <= topology.upstream["tm-lb"]
    assert "core-db" not in topology.upstream["search-lb"]


def test_cycle_is_rejected_with_its_path_and_line(tmp_path):
    path = write(tmp_path, """\
        systems:
          s: {name: S, entry: a}
        components:
          a: {system: s, depends_on: [b]}
          b: {system: s, depends_on: [c]}
          c:
            system: s
            depends_on: [a]
        """)
    with pytest.raises(ConfigError) as caught:
        load_topology(path)
    error = caught.value
    assert "dependency cycle: a -> b -> c -> a" in str(error)
    assert error.file == str(path) and error.line == 8


def test_unknown_dependency_and_duplicate_host_are_located(tmp_path):
    path = write(tmp_path, """\
        systems:
          s: {name: S, entry: a}
        components:
          a: {system: s, depends_on: [dbb]}
          db: {system: s}
        """)
    with pytest.raises(ConfigError, match="unknown component 'dbb'") as caught:
        load_topology(path)
    assert caught.value.line == 4
    path = write(tmp_path, """\
        systems:
          s: {name: S, entry: a}
        components:
          a: {system: s, hosts: [h1]}
          b: {system: s, hosts: [h2, h1]}
        """)
    with pytest.raises(ConfigError, match="'h1' already belongs to component 'a'"):
        load_topology(path)


def test_unknown_fields_are_rejected(tmp_path):
    path = write(tmp_path, """\
        systems:
          s: {name: S, entry: a}
        components:
          a: {system: s, depend_on: [a]}
        """)
    with pytest.raises(ConfigError, match="depend_on"):
        load_topology(path)
