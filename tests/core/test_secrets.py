import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from core.secrets import Secret, SecretRef
from core.settings import StrictModel


class Settings(StrictModel):
    password: SecretRef


def test_secret_is_a_reference_and_never_shows_its_value(monkeypatch, tmp_path):
    monkeypatch.setenv("SW_TEST_PASSWORD", "s3cr3t-value")
    settings = Settings(password="env:SW_TEST_PASSWORD")
    assert settings.password.reveal() == "s3cr3t-value"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.password)
    assert settings.model_dump(mode="json") == {"password": "env:SW_TEST_PASSWORD"}
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    assert Secret(f"file:{secret_file}").reveal() == "from-file"
    assert Secret(f"file:{secret_file}").equals("from-file")


def test_literal_secrets_are_refused():
    with pytest.raises(ValidationError, match="must be a reference"):
        Settings(password="hunter2")


def test_missing_secret_names_the_reference(monkeypatch):
    monkeypatch.delenv("SW_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError, match="SW_TEST_MISSING is not set"):
        Secret("env:SW_TEST_MISSING").reveal()
