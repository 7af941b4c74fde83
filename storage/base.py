"""The `Store` protocol every storage backend implements, and the query it answers.

Contract (tests/storage/contract.py runs it against every backend):
- `write(events)` stores a batch durably or raises; a batch is never half-visible after a
  successful return. Events are flat dotted-ECS dicts; "@timestamp" decides the partition.
- `search(query)` returns events whose @timestamp is in [start, end), newest first, matching
  every field filter (exact value; several values for one field mean any of them) and the
  full-text `text` on `message`; `cursor` continues where the previous page ended.
- `count_by(field, query)` counts matching events per value of `field`, largest first.
- `apply_retention(now)` deletes what is older than the retention period, whole partitions at a
  time, and returns how many partitions it dropped.
- `ping()` is True when the backend can serve requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Query:
    start: float | None = None          # epoch seconds, inclusive
    end: float | None = None            # epoch seconds, exclusive
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class SearchResult:
    events: list[dict]
    next_cursor: str | None = None


@runtime_checkable
class Store(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, events: list[dict]) -> None: ...

    async def search(self, query: Query) -> SearchResult: ...

    async def count_by(self, field_name: str, query: Query, limit: int = 10
                       ) -> list[tuple[str, int]]: ...

    async def apply_retention(self, now: float) -> int: ...

    async def ping(self) -> bool: ...
