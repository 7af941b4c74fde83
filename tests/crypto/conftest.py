"""Fixtures for crypto tests: a real ``openssl`` CLI runner and fresh SM2 keys."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from crypto.sm2 import SM2PrivateKey


@pytest.fixture(scope="session")
def openssl():
    """Run the system ``openssl`` CLI; returns CompletedProcess (bytes). Skips if absent."""
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("openssl CLI not installed (Debian package: openssl)")

    def run(*args, input=None, check=True):
        return subprocess.run([exe, *args], input=input, capture_output=True, check=check,
                              timeout=30)

    return run


@pytest.fixture(scope="session")
def sm2_key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="session")
def other_sm2_key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()
