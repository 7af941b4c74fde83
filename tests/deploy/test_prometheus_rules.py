"""The shipped Prometheus configuration and alert rules, checked by promtool itself."""
from __future__ import annotations

import yaml

from tests.deploy.tools import DEPLOY, run_tool

PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
UNIT_TESTS = PROMETHEUS / "tests" / "rules_test.yml"
SEVERITIES = {"critical", "high", "medium", "low"}


def alert_rules():
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path.name, rule


def test_promtool_check_config_loads_every_rule_file(tmp_path):
    # The shipped file names the container path; point it at this checkout's rules.
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [str(path) for path in RULE_FILES]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = run_tool("promtool", "check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_promtool_check_rules():
    result = run_tool("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass():
    result = run_tool("promtool", "test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_is_unit_tested_firing_and_not_firing():
    document = yaml.safe_load(UNIT_TESTS.read_text())
    tested = {path.name for path in RULE_FILES}
    assert {name.rsplit("/", 1)[-1] for name in document["rule_files"]} == tested
    firing, quiet = set(), set()
    for case in document["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for _, rule in alert_rules()}
    assert names - firing == set(), "rules never shown firing"
    assert names - quiet == set(), "rules never shown quiet"


def test_every_rule_has_a_national_severity_and_bilingual_text():
    for file_name, rule in alert_rules():
        where = f"{file_name}: {rule['alert']}"
        assert rule["labels"]["severity"] in SEVERITIES, where
        annotations = rule["annotations"]
        for key in ("summary", "summary_zh", "description", "description_zh"):
            assert annotations.get(key), f"{where} lacks {key}"
        # The Chinese text must be Chinese (a copy of the English one is a slip).
        assert any("\u4e00" <= char <= "\u9fff" for char in annotations["summary_zh"]), where
