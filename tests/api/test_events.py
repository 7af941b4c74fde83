"""GET /api/v1/events: time range, field filters, full text, pages, and named 400s."""
from __future__ import annotations

import pytest

from core.events import format_ts
from core.errors import StoreUnavailable
from tests.api.conftest import MemoryStore, bearer

BASE = 1_764_000_000.0  # 2025-11-24T16:00:00Z


def event(offset_secs: int, **fields) -> dict:
    base = {"@timestamp": format_ts(BASE + offset_secs), "event.id": f"e{offset_secs}"}
    base.update({key.replace("__", "."): value for key, value in fields.items()})
    return base


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore([
        event(0, source__ip="1.2.3.4", message="Failed password for root"),
        event(10, source__ip="1.2.3.4", message="Accepted password for alice"),
        event(20, source__ip="5.6.7.8", message="Failed password for admin"),
        event(30, source__ip="2001:db8::1", message="Failed password for bob"),
    ])


async def get(harness, **params):
    async with harness.client() as client:
        return await client.get("/api/v1/events", params=params, headers=bearer("operator"))


async def test_filters_time_range_and_text_reach_the_store(make_harness, store):
    harness = make_harness(store=store)
    response = await get(harness, filter=["source.ip:1.2.3.4", "source.ip:5.6.7.8"],
                         q="Failed", start=format_ts(BASE), end=str(BASE + 25))
    assert response.status_code == 200
    assert [e["event.id"] for e in response.json()["events"]] == ["e20", "e0"]
    query = store.queries[-1]
    assert query.filters == {"source.ip": ("1.2.3.4", "5.6.7.8")}
    assert (query.start, query.end, query.text) == (BASE, BASE + 25, "Failed")


async def test_filter_values_may_hold_colons(make_harness, store):
    response = await get(make_harness(store=store), filter="source.ip:2001:db8::1")
    assert [e["event.id"] for e in response.json()["events"]] == ["e30"]


async def test_pages_follow_the_cursor_to_the_end(make_harness, store):
    harness = make_harness(store=store)
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await get(harness, **params)).json()
        seen += [e["event.id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["e30", "e20", "e10", "e0"]


@pytest.mark.parametrize("params, parameter", [
    ({"start": "yesterday"}, "start"),
    ({"end": "nan"}, "end"),
    ({"start": str(BASE + 10), "end": str(BASE)}, "end"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"filter": "source.ip"}, "filter"),
    ({"filter": "bad field:1"}, "filter"),
    ({"limt": "5"}, "limt"),
])
async def test_malformed_parameters_are_400_naming_the_parameter(make_harness, params,
                                                                 parameter):
    harness = make_harness()
    response = await get(harness, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"]["parameter"] == parameter
    assert repr(parameter) in body["error"]
    assert harness.store.queries == []


async def test_a_store_that_is_down_is_503(make_harness):
    class DownStore(MemoryStore):
        async def search(self, query):
            raise StoreUnavailable("database is locked")

    response = await get(make_harness(store=DownStore()))
    assert response.status_code == 503
    assert response.json()["error"] == "the event store is unavailable"
    assert response.headers["retry-after"]
