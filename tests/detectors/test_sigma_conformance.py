"""Every SigmaHQ rule of the shared sample set loads (active or inactive) or is rejected with a
specific reason; at least 90% load; the rules we have events for run in the engine."""
from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from detectors.engine import Engine
from detectors.sigma.loader import load_sigma_rules

SIGMA_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma-rules"

pytestmark = pytest.mark.skipif(not SIGMA_RULES.is_dir(), reason="shared Sigma rules absent")


@pytest.fixture(scope="module")
def sigma_load():
    return load_sigma_rules([SIGMA_RULES / "rules"])


def test_at_least_90_percent_of_the_rules_load(sigma_load):
    files = list((SIGMA_RULES / "rules").rglob("*.yml"))
    assert sigma_load.total >= len(files)
    assert sigma_load.loaded / sigma_load.total >= 0.90, sigma_load.reasons()


def test_every_rule_not_running_says_why(sigma_load):
    for verdict in sigma_load.rejected + sigma_load.inactive:
        assert verdict.reason and verdict.category, verdict
    for verdict in sigma_load.inactive:
        assert verdict.reason.startswith("no source for logsource "), verdict


def test_unmapped_logsources_are_inactive_and_mapped_ones_active(sigma_load):
    inactive = {v.reason for v in sigma_load.inactive}
    assert "no source for logsource product=linux category=process_creation" in inactive
    assert "no source for logsource product=linux service=auditd" in inactive
    sources = {item.rule.logsource for item in sigma_load.active}
    assert {"webserver", "proxy", "dns", "linux", "linux-sshd"} <= sources
    # every active rule is indexed by the datasets its logsource maps to
    assert all(item.rule.datasets for item in sigma_load.active)


def test_active_rules_build_into_the_engine(sigma_load):
    engine = Engine.build(sigma_load.active, registry=CollectorRegistry())
    assert len(engine.detectors) == len(sigma_load.active)
    nginx = {"event.dataset": "nginx.access", "event.kind": "event"}
    candidates = engine.candidates(nginx)
    assert candidates and all("nginx.access" in d.datasets for d in candidates)
