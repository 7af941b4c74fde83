"""Fixtures of the agent tests."""
import subprocess

import pytest

from tests.support.monitor import SHOUWANG


@pytest.fixture
def keys(tmp_path):
    """SM2 identities of an agent and a server, made the way the README says."""
    paths = {}
    for name in ("agent", "server"):
        key, pub = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
        subprocess.run([SHOUWANG, "crypto", "keygen", "--out", str(key), "--pubout", str(pub)],
                       check=True, capture_output=True, timeout=60)
        paths[f"{name}_key"], paths[f"{name}_pub"] = key, pub
    return paths
