"""The shipped Alertmanager configuration: valid for amtool, and routing as ops expect."""
from __future__ import annotations

import yaml

from tests.deploy.tools import DEPLOY, run_tool

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def test_amtool_check_config():
    result = run_tool("amtool", "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_severity_reaches_the_shouwang_webhook():
    for severity in ("critical", "high", "medium", "low"):
        result = run_tool("amtool", "config", "routes", "test", f"--config.file={CONFIG}",
                          "--verify.receivers=shouwang", "alertname=ServiceDown",
                          "system=exam", f"severity={severity}")
        assert result.returncode == 0, result.stdout + result.stderr


def test_webhook_posts_to_the_intake_with_a_bearer_token_from_a_file():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname", "system"]
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"].endswith("/api/v1/alertmanager")
    assert webhook["send_resolved"] is True
    authorization = webhook["http_config"]["authorization"]
    assert authorization["type"] == "Bearer" and "credentials" not in authorization
    assert authorization["credentials_file"].startswith("/")
