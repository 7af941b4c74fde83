"""`shouwang check-config` loads the SM2 key files a configuration names, as a user runs it:
the server's identity and the agents it trusts (`agents:`), or an agent's own identity and its
servers' public keys (`agent:`). A key that is missing, unreadable, malformed or of the wrong
kind is an error naming the config key and the file, exit 2, no traceback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from crypto.sm2 import SM2PrivateKey
from tests.cli.test_check_config import shouwang

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    """server.key/.pub, agent.key/.pub, an encrypted server key, and broken files."""
    directory = tmp_path_factory.mktemp("keys")
    for name in ("server", "agent"):
        key = SM2PrivateKey.generate()
        (directory / f"{name}.key").write_bytes(key.to_pem())
        (directory / f"{name}.pub").write_bytes(key.public_key.to_pem())
    key = SM2PrivateKey.generate()
    (directory / "server-encrypted.key").write_bytes(key.to_pem(PASSPHRASE.encode()))
    (directory / "garbage.pub").write_text("-----BEGIN PUBLIC KEY-----\nnot base64 !!\n"
                                           "-----END PUBLIC KEY-----\n")
    (directory / "empty.key").write_bytes(b"")
    return directory


def server_config(tmp_path: Path, agents: dict) -> Path:
    path = tmp_path / "shouwang.yaml"
    path.write_text(yaml.safe_dump({"node": {"name": "t", "data_dir": str(tmp_path / "var")},
                                    "agents": agents}, sort_keys=False))
    return path


def agent_config(tmp_path: Path, agent: dict) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"node": {"name": "web-01",
                                             "data_dir": str(tmp_path / "agent-var")},
                                    "agent": agent}, sort_keys=False))
    return path


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1)
                if text in line)


def check(path: Path):
    return shouwang("check-config", str(path), cwd=path.parent)


def test_server_with_good_keys_is_ok_and_says_keys_loaded(tmp_path, keys):
    config = server_config(tmp_path, {"identity_key": str(keys / "server.key"),
                                      "trusted": {"web-01": {"public_key": str(keys / "agent.pub")}}})
    result = check(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agents: 1 trusted, keys loaded" in result.stdout


def test_missing_trusted_agent_key_names_key_file_and_line(tmp_path, keys):
    missing = keys / "web-02.pub"
    config = server_config(tmp_path, {"identity_key": str(keys / "server.key"),
                                      "trusted": {"web-01": {"public_key": str(keys / "agent.pub")},
                                                  "web-02": {"public_key": str(missing)}}})
    result = check(config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "configuration OK" not in result.stdout
    (error,) = [line for line in result.stderr.splitlines() if "error" in line]
    line = line_of(config, f"public_key: {missing}")
    assert f"{config}:{line} [agents.trusted.web-02.public_key]" in error
    assert str(missing) in error and "No such file or directory" in error


def test_every_broken_server_key_is_reported_at_once(tmp_path, keys):
    unreadable = tmp_path / "unreadable.pub"
    unreadable.write_bytes((keys / "agent.pub").read_bytes())
    unreadable.chmod(0)
    config = server_config(tmp_path, {
        "identity_key": str(keys / "agent.pub"),            # a public key where the private goes
        "trusted": {"a": {"public_key": str(keys / "garbage.pub")},
                    "b": {"public_key": str(unreadable)},
                    "c": {"public_key": str(keys / "empty.key")}}})
    result = check(config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = result.stderr
    assert "[agents.identity_key]" in errors and "expected a PRIVATE KEY PEM" in errors
    assert "[agents.trusted.a.public_key]" in errors and "not valid base64" in errors
    assert "[agents.trusted.c.public_key]" in errors and "no PEM block" in errors
    if os.geteuid() != 0:  # root reads any file
        assert "[agents.trusted.b.public_key]" in errors and "Permission denied" in errors


def test_encrypted_server_key_needs_its_passphrase(tmp_path, keys, monkeypatch):
    config = server_config(tmp_path, {"identity_key": str(keys / "server-encrypted.key")})
    result = check(config)
    assert result.returncode == 2
    assert "[agents.identity_key]" in result.stderr and "passphrase" in result.stderr
    config = server_config(tmp_path, {"identity_key": str(keys / "server-encrypted.key"),
                                      "identity_passphrase": "env:CHECK_KEY_PASSPHRASE"})
    result = check(config)
    assert result.returncode == 2 and "CHECK_KEY_PASSPHRASE" in result.stderr
    monkeypatch.setenv("CHECK_KEY_PASSPHRASE", "wrong")
    result = check(config)
    assert result.returncode == 2 and "wrong passphrase" in result.stderr
    monkeypatch.setenv("CHECK_KEY_PASSPHRASE", PASSPHRASE)
    result = check(config)
    assert result.returncode == 0, result.stderr


def test_a_private_key_among_trusted_public_keys_is_a_warning(tmp_path, keys):
    config = server_config(tmp_path, {"identity_key": str(keys / "server.key"),
                                      "trusted": {"web-01": {"public_key": str(keys / "agent.key")}}})
    result = check(config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "warning:" in result.stdout and "[agents.trusted.web-01.public_key]" in result.stdout
    assert "private key where the public key belongs" in result.stdout


def test_agent_config_checks_its_own_key_and_the_servers_keys(tmp_path, keys):
    token = tmp_path / "agent.token"
    token.write_text("t0ken")
    server = {"url": "http://127.0.0.1:8700", "token": f"file:{token}",
              "public_key": str(keys / "server.pub")}
    config = agent_config(tmp_path, {"id": "web-01", "identity_key": str(keys / "agent.key"),
                                     "servers": [server]})
    result = check(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent configuration OK" in result.stdout and "web-01, keys loaded" in result.stdout

    broken = agent_config(tmp_path, {
        "id": "web-01", "identity_key": str(tmp_path / "nowhere.key"),
        "servers": [server, {**server, "public_key": str(keys / "garbage.pub")}]})
    result = check(broken)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{broken}:{line_of(broken, 'identity_key')} [agent.identity_key]" in result.stderr
    assert str(tmp_path / "nowhere.key") in result.stderr
    assert "[agent.servers.1.public_key]" in result.stderr
    assert "[agent.servers.0.public_key]" not in result.stderr
