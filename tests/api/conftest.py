"""Shared pieces of the API tests: an in-memory Store, tokens for every role, app builders.

Clients talk to the ASGI app in-process; `client_host` sets the peer address the app sees,
which is how non-loopback callers are tested without sending traffic anywhere.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client import CollectorRegistry

from api.app import create_app
from api.roles import Role
from api.settings import ApiSettings
from core.events import event_epoch
from storage.base import Query, SearchResult

LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("10.1.2.3", 1234)

# One token per role, named after the role; the values are what a client presents.
TOKENS = {role.value: f"test-token-for-{role.value}-0123456789" for role in Role}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def token_settings() -> dict:
    return {role: {"role": role, "sha256": hashlib.sha256(token.encode()).hexdigest()}
            for role, token in TOKENS.items()}


class MemoryStore:
    """A small storage.base.Store over a list; cursors are offsets into the result."""

    name = "memory"

    def __init__(self, events: list[dict] | None = None):
        self.events = list(events or [])
        self.healthy = True
        self.queries: list[Query] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, events: list[dict]) -> None:
        self.events.extend(events)

    def _matches(self, event: dict, query: Query) -> bool:
        when = event_epoch(event)
        if query.start is not None and when < query.start:
            return False
        if query.end is not None and when >= query.end:
            return False
        for name, values in query.filters.items():
            if str(event.get(name)) not in values:
                return False
        return query.text is None or query.text in str(event.get("message", ""))

    async def search(self, query: Query) -> SearchResult:
        self.queries.append(query)
        found = sorted((e for e in self.events if self._matches(e, query)),
                       key=event_epoch, reverse=True)
        offset = int(query.cursor or 0)
        page = found[offset:offset + query.limit]
        more = offset + query.limit < len(found)
        return SearchResult(page, str(offset + query.limit) if more else None)

    async def count_by(self, field_name, query, limit=10):
        return []

    async def apply_retention(self, now: float) -> int:
        return 0

    async def ping(self) -> bool:
        return self.healthy


@dataclass
class Harness:
    """An app and what it was given, so tests can look at what a user would see."""

    app: object
    store: MemoryStore
    registry: CollectorRegistry
    ingested: list[list[dict]] = field(default_factory=list)
    audited: list[dict] = field(default_factory=list)

    def client(self, peer=LOOPBACK) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=peer)
        return httpx.AsyncClient(transport=transport, base_url="http://shouwang.test")

    def sample(self, name: str, labels: dict | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})


@pytest.fixture
def make_harness():
    def make(*, tokens: dict | None = None, store: MemoryStore | None = None,
             readiness=None, ingest="record", audit=True, **settings) -> Harness:
        store = store if store is not None else MemoryStore()
        registry = CollectorRegistry()
        harness = Harness(app=None, store=store, registry=registry)

        async def record(events: list[dict]) -> None:
            harness.ingested.append(events)

        api_settings = ApiSettings(tokens=token_settings() if tokens is None else tokens,
                                   **settings)
        harness.app = create_app(
            api_settings, store=store, registry=registry, readiness=readiness,
            ingest=record if ingest == "record" else ingest,
            audit=harness.audited.append if audit is True else audit)
        return harness

    return make


@pytest.fixture
def harness(make_harness) -> Harness:
    return make_harness()
