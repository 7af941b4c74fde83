from typing import Literal

import pytest
from pydantic import Field

from core.configfile import load_layers, validate
from core.errors import ConfigError
from core.settings import StrictModel, component_union


class Tail(StrictModel):
    type: Literal["file_tail"]
    paths: list[str]
    poll_interval_secs: float = 1.0


class Listener(StrictModel):
    type: Literal["syslog"]
    listen: list[str]


class Root(StrictModel):
    retention_days: int = Field(180, ge=1)
    sources: dict[str, component_union([Tail, Listener])] = {}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_a_typo_is_reported_with_file_line_and_key(tmp_path):
    config = write(tmp_path / "shouwang.yaml", "retention_days: 30\nsources:\n  auth:\n"
                   "    type: file_tail\n    paths: [/var/log/auth.log]\n    pol_interval_secs: 2\n")
    with pytest.raises(ConfigError) as info:
        validate(Root, load_layers(config))
    error = info.value
    assert error.file == str(config) and error.line == 6
    assert error.key == "sources.auth.file_tail.pol_interval_secs"
    assert "Extra inputs are not permitted" in str(error)


def test_wrong_type_is_located(tmp_path):
    config = write(tmp_path / "s.yaml", "sources:\n  rx:\n    type: syslog\n    listen: 5514\n")
    with pytest.raises(ConfigError) as info:
        validate(Root, load_layers(config))
    assert info.value.line == 4 and info.value.key == "sources.rx.syslog.listen"


def test_invalid_yaml_names_the_line(tmp_path):
    config = write(tmp_path / "s.yaml", "sources:\n  rx: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_layers(config)
    assert info.value.file == str(config) and info.value.line is not None
    assert "invalid YAML" in str(info.value)


def test_unsafe_yaml_tags_are_refused(tmp_path):
    config = write(tmp_path / "s.yaml", "x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_layers(config)


def test_local_override_merges_mappings_and_replaces_lists(tmp_path):
    base = write(tmp_path / "default.yaml", "retention_days: 180\nsources:\n  auth:\n"
                 "    type: file_tail\n    paths: [/var/log/auth.log]\n")
    write(tmp_path / "default.local.yaml", "sources:\n  auth:\n    paths: [/srv/auth.log]\n"
          "    poll_interval_secs: 0.5\n")
    document = load_layers(base)
    settings = validate(Root, document)
    assert settings.retention_days == 180
    assert settings.sources["auth"].paths == ["/srv/auth.log"]
    assert settings.sources["auth"].poll_interval_secs == 0.5
    assert document.files == [str(base), str(tmp_path / "default.local.yaml")]


def test_error_in_the_override_points_at_the_override(tmp_path):
    base = write(tmp_path / "default.yaml", "retention_days: 180\n")
    local = write(tmp_path / "default.local.yaml", "\n\nretention_days: -1\n")
    with pytest.raises(ConfigError) as info:
        validate(Root, load_layers(base))
    assert info.value.file == str(local) and info.value.line == 3


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_layers(tmp_path / "nope.yaml")
