"""Checking the SM2 key files an agent or server configuration names, before anything starts
(`shouwang check-config`).

    server (`agents:` block)   agents.identity_key            the server's private key
                               agents.trusted.<id>.public_key an agent's public key
    agent (`agent:` block)     agent.identity_key             the agent's own private key
                               agent.servers.<n>.public_key   a server's public key

Every key is loaded as the running process would load it (passphrase included), and every
problem is reported, not just the first, each naming the config key, the file and the line
of the configuration that names it. A public-key slot holding a private key works (the public
half is derived) but is a warning: the private key has been copied to a host that should
only hold the public one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.configfile import ConfigDocument, locate
from core.errors import ShouwangError
from core.secrets import SecretRef


@dataclass(frozen=True)
class KeyProblem:
    """One key file that cannot be used (`severity` error) or should not be (warning)."""

    severity: str          # error | warning
    config_key: str        # agents.trusted.web-01.public_key
    file: Path
    message: str
    where: str = ""        # config file:line naming the key

    def __str__(self) -> str:
        where = f"{self.where} " if self.where else ""
        return f"{where}[{self.config_key}] key file {self.file}: {self.message}"


def _read(path: Path) -> bytes:
    from crypto.errors import KeyFormatError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        # strerror, not str(exc): the message names the file once, in our words
        raise KeyFormatError(exc.strerror or type(exc).__name__) from None


def _private(path: Path, passphrase: SecretRef | None) -> None:
    from crypto.sm2 import SM2PrivateKey

    data = _read(path)
    secret = passphrase.reveal().encode() if passphrase is not None else None
    SM2PrivateKey.from_pem(data, secret)


def _public(path: Path) -> str | None:
    """Loads a public key; returns a warning when the file holds a private key."""
    from crypto.sm2 import load_public_or_private, pem_decode

    data = _read(path)
    load_public_or_private(data)
    label, _ = pem_decode(data)
    if label != "PUBLIC KEY":
        return ("holds a private key where the public key belongs: copy only the .pub "
                "file (`shouwang crypto keygen --pubout`)")
    return None


class _Checker:
    def __init__(self, document: ConfigDocument | None):
        self.document = document
        self.problems: list[KeyProblem] = []

    def _where(self, loc: tuple) -> str:
        if self.document is None:
            return ""
        file, line = locate(self.document.node, loc)
        file = file or (self.document.files[0] if self.document.files else None)
        return f"{file}:{line}" if file and line else (file or "")

    def check(self, loc: tuple, path: Path, load) -> None:
        config_key = ".".join(str(part) for part in loc)
        try:
            warning = load()
        except ShouwangError as exc:  # KeyFormatError, WrongPassphrase, unresolvable secret
            self.problems.append(KeyProblem("error", config_key, path, str(exc),
                                            self._where(loc)))
            return
        if warning:
            self.problems.append(KeyProblem("warning", config_key, path, warning,
                                            self._where(loc)))


def server_key_problems(agents, document: ConfigDocument | None = None) -> list[KeyProblem]:
    """Problems of the keys a server's `agents:` block names (none when it has no block)."""
    if agents is None:
        return []
    checker = _Checker(document)
    checker.check(("agents", "identity_key"), agents.identity_key,
                  lambda: _private(agents.identity_key, agents.identity_passphrase))
    for agent_id, trusted in agents.trusted.items():
        checker.check(("agents", "trusted", agent_id, "public_key"), trusted.public_key,
                      lambda path=trusted.public_key: _public(path))
    return checker.problems


def agent_key_problems(agent, document: ConfigDocument | None = None) -> list[KeyProblem]:
    """Problems of the keys an agent's `agent:` block names."""
    checker = _Checker(document)
    checker.check(("agent", "identity_key"), agent.identity_key,
                  lambda: _private(agent.identity_key, agent.identity_passphrase))
    for number, server in enumerate(agent.servers):
        checker.check(("agent", "servers", number, "public_key"), server.public_key,
                      lambda path=server.public_key: _public(path))
    return checker.problems
