"""Shouwang's exception hierarchy and the exit-code contract.

    ShouwangError                 base; ``exit_code`` tells the CLI what to return
    ├── ConfigError               bad configuration: names file, line and key
    ├── InputError                bad input from a user or a file: names the input and where
    ├── RegistryError             unknown or duplicate component name
    └── StoreError                a storage backend failed (the pipeline spools and retries)
        └── StoreUnavailable      the backend cannot be reached right now

Exit codes (DESIGN.md): 0 ok, 1 findings or warnings, 2 error (bad input, bad config).
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class ShouwangError(Exception):
    """Base of every error we raise on purpose; its message is meant for a person."""

    exit_code = EXIT_ERROR


class ConfigError(ShouwangError):
    """A configuration problem located at ``file:line`` and a dotted ``key``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self.__str__())

    def location(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        return where

    def __str__(self) -> str:
        key = f" [{self.key}]" if self.key else ""
        return f"{self.location()}{key}: {self.message}"


class InputError(ShouwangError):
    """Input that cannot be used: a file, a record, a request body."""


class RegistryError(ShouwangError):
    """A component name that is unknown or registered twice."""


class StoreError(ShouwangError):
    """A storage backend failed to carry out a request."""


class StoreUnavailable(StoreError):
    """The storage backend cannot be reached; writes are spooled until it returns."""
