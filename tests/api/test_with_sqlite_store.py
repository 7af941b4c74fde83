"""The API over the real sqlite store: what an agent ships, an operator finds."""
from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import REMOTE, bearer, token_settings

sqlite = pytest.importorskip("storage.sqlite")


async def test_ingested_events_are_searchable_in_sqlite(tmp_path):
    store = sqlite.SqliteStore("events", tmp_path / "store")
    await store.open()
    try:
        app = create_app(ApiSettings(tokens=token_settings()), store=store,
                         registry=CollectorRegistry(), ingest=store.write)
        transport = httpx.ASGITransport(app=app, client=REMOTE)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            shipped = await client.post(
                "/api/v1/ingest", headers=bearer("agent"),
                content=b'{"@timestamp": "2026-11-25T14:25:43Z", "source": {"ip": "1.2.3.4"},'
                        b' "message": "Failed password for root"}\n'
                        b'{"@timestamp": "2026-11-25T14:25:44Z", "source": {"ip": "5.6.7.8"},'
                        b' "message": "Accepted password for alice"}\n')
            assert shipped.status_code == 202
            found = await client.get("/api/v1/events", headers=bearer("operator"),
                                     params={"filter": "source.ip:1.2.3.4",
                                             "start": "2026-11-25T00:00:00Z"})
            ready = await client.get("/readyz", headers=bearer("operator"))
        assert found.status_code == 200, found.text
        [event] = found.json()["events"]
        assert event["message"] == "Failed password for root"
        assert event["shouwang.ingest.token_id"] == "agent"
        assert ready.status_code == 200 and ready.json()["checks"]["store"]["ok"] is True
    finally:
        await store.close()
