"""`shouwang check-config` and `shouwang config schema` as a user runs them."""
import json
import subprocess

from tests.support.monitor import ROOT, SHOUWANG


def shouwang(*args, cwd=ROOT):
    return subprocess.run([SHOUWANG, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_shipped_default_config_is_valid(tmp_path):
    result = shouwang("check-config", str(ROOT / "config/default.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration OK" in result.stdout
    assert "/var/log/auth.log" in result.stdout


def test_a_typo_gives_file_line_key_and_a_suggestion_without_traceback(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("node:\n  data_dir: var\nsources:\n  auth:\n    type: file_tial\n"
                      "    paths: [/var/log/auth.log]\n")
    result = shouwang("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{config}:5" in result.stderr
    assert "sources.auth" in result.stderr
    assert "did you mean 'file_tail'" in result.stderr


def test_an_unknown_key_is_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("store:\n  type: sqlite\n  retension_days: 30\n")
    result = shouwang("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{config}:3" in result.stderr and "retension_days" in result.stderr


def test_schema_describes_every_source_type():
    result = shouwang("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    text = json.dumps(schema)
    for name in ("file_tail", "syslog", "sqlite", "elasticsearch", "retention_days"):
        assert name in text
    assert schema["additionalProperties"] is False
