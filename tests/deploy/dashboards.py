"""Reading the committed dashboards: panels, targets, and PromQL with Grafana's variables
replaced by values a test Prometheus can evaluate."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.deploy.tools import DEPLOY

GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
# Test values for Grafana's variables: ranges short enough for a Prometheus scraping every
# second for a few seconds, wide enough to hold two samples for rate().
VARIABLES = {"$__rate_interval": "5s", "$__interval": "2s", "$__range": "1m",
             "$system": ".*", "$component": ".*"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(board: dict):
    """Every panel, rows' collapsed children included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def provisioned_datasources() -> dict[str, str]:
    uids = {}
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yml"):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            uids[source["uid"]] = source["type"]
    return uids


def substitute(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):  # $__range before $__r...
        expr = expr.replace(name, VARIABLES[name])
    left = re.findall(r"\$\w+", expr)
    assert not left, f"no test value for {left} in {expr}"
    return expr


def promql_targets():
    """(dashboard file, panel title, expression with variables substituted)."""
    for path in DASHBOARD_FILES:
        for panel in panels(load(path)):
            for target in panel.get("targets", []):
                if (target.get("datasource") or panel["datasource"])["type"] == "prometheus":
                    yield path.name, panel["title"], substitute(target["expr"])
