"""The committed Grafana dashboards and provisioning: generated, consistent, well-formed."""
from __future__ import annotations

import pytest
import yaml

from tests.deploy.dashboards import (DASHBOARD_FILES, GRAFANA, load, panels, promql_targets,
                                     provisioned_datasources)
from tests.deploy.tools import run_tool

GRID_COLUMNS = 24


def test_committed_json_is_what_the_generator_writes():
    generate = pytest.importorskip("tools.dashboards.generate")
    rendered = generate.render()
    assert sorted(rendered) == [path.name for path in DASHBOARD_FILES]
    for path in DASHBOARD_FILES:
        assert path.read_text(encoding="utf-8") == rendered[path.name], (
            f"{path.name} differs from the generator: run `python -m tools.dashboards`")


def test_the_generator_is_the_build_for_the_compose_grafana():
    from importlib.metadata import version

    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]["image"].rsplit(":", 1)[1]
    sdk = version("grafana-foundation-sdk").split("!")[-1]
    assert sdk.split(".")[:2] == grafana.split(".")[:2], (sdk, grafana)


def test_the_three_dashboards_with_unique_uids_titles_and_panel_ids():
    boards = [load(path) for path in DASHBOARD_FILES]
    assert {board["uid"] for board in boards} == {"shouwang-ops", "shouwang-security",
                                                  "shouwang-pipeline"}
    assert len({board["title"] for board in boards}) == len(boards)
    for board in boards:
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), f"{board['uid']}: duplicate panel ids"


def test_every_panel_has_a_provisioned_datasource_and_a_query():
    datasources = provisioned_datasources()
    for path in DASHBOARD_FILES:
        for panel in panels(load(path)):
            if panel["type"] == "row":
                continue
            where = f"{path.name}: {panel['title']}"
            assert datasources.get(panel["datasource"]["uid"]) == panel["datasource"]["type"], where
            assert panel.get("targets"), f"{where} has no query"
            for target in panel["targets"]:
                assert target.get("expr") or target.get("query"), f"{where}: empty target"
        for variable in load(path)["templating"].get("list", []):
            assert variable["datasource"]["uid"] in datasources, variable["name"]


def test_panels_fit_the_grid_without_overlapping():
    for path in DASHBOARD_FILES:
        taken: set[tuple[int, int]] = set()
        for panel in panels(load(path)):
            grid = panel["gridPos"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
            cells = {(grid["x"] + dx, grid["y"] + dy)
                     for dx in range(grid["w"]) for dy in range(grid["h"])}
            assert not cells & taken, f"{path.name}: {panel['title']} overlaps another panel"
            taken |= cells


def test_every_promql_expression_parses(tmp_path):
    # promtool compiles each one as a recording rule: no server needed for a syntax check.
    targets = list(promql_targets())
    rules = [{"record": f"dashboard:check{index}", "expr": expr}
             for index, (_, _, expr) in enumerate(targets)]
    path = tmp_path / "dashboard_exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_provider_serves_the_dashboards_folder_read_only():
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/shouwang.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"   # compose mount
    assert entry["allowUiUpdates"] is False and entry["disableDeletion"] is True
