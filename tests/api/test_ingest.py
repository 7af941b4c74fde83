"""POST /api/v1/ingest as an agent sees it: good, bad and oversize NDJSON, backpressure."""
from __future__ import annotations

import asyncio

import orjson
import pytest

from core.events import parse_ts
from tests.api.conftest import REMOTE, bearer

HEADERS = {**bearer("agent"), "Content-Type": "application/x-ndjson"}


async def post(harness, body: bytes, headers=HEADERS):
    async with harness.client(REMOTE) as client:
        return await client.post("/api/v1/ingest", content=body, headers=headers)


async def test_good_lines_are_flattened_stamped_and_handed_to_the_pipeline(harness):
    body = (b'{"@timestamp": "2026-11-25T14:25:43Z", "source": {"ip": "203.0.113.7"}, '
            b'"message": "Failed password"}\n'
            b"\n"
            b'{"message": "no time", "shouwang": {"ingest": {"token_id": "forged"}}}\r\n'
            b'{"@timestamp": 1764000000, "event": {"id": "mine"}}')
    response = await post(harness, body)
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "rejected": 0, "errors": []}
    [batch] = harness.ingested
    first, second, third = batch
    assert first["source.ip"] == "203.0.113.7"
    assert first["@timestamp"] == "2026-11-25T14:25:43Z"
    assert parse_ts(first["event.created"]) > 0 and first["event.id"]
    assert first["event.kind"] == "event"
    assert second["@timestamp"] == second["event.created"]
    # Provenance is ours: the sender cannot claim another token.
    assert second["shouwang.ingest.token_id"] == "agent"
    assert second["shouwang.ingest.source_ip"] == "10.1.2.3"
    assert third["event.id"] == "mine"
    assert third["@timestamp"] == "2025-11-24T16:00:00.000000Z"
    assert len({e["event.id"] for e in batch}) == 3
    assert harness.sample("shouwang_api_ingested_events_total", {"outcome": "accepted"}) == 3


async def test_bad_lines_are_rejected_by_number_while_good_ones_go_through(harness):
    body = b"\n".join([
        b'{"message": "ok 1"}',
        b'{"message": ',
        b'[1, 2, 3]',
        b'{"message": "ok 2"}',
        b'{"@timestamp": "last tuesday"}',
        b'{"source.ip": "1.1.1.1", "source": {"ip": "2.2.2.2"}}',
    ])
    response = await post(harness, body)
    assert response.status_code == 202
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 4)
    assert [error["line"] for error in result["errors"]] == [2, 3, 5, 6]
    reasons = [error["error"] for error in result["errors"]]
    assert reasons[0].startswith("not JSON")
    assert "JSON object" in reasons[1]
    assert "RFC 3339" in reasons[2]
    assert "given twice" in reasons[3]
    assert [e["message"] for e in harness.ingested[0]] == ["ok 1", "ok 2"]


async def test_a_body_with_no_good_line_is_400_and_nothing_is_ingested(harness):
    response = await post(harness, b"garbage\nmore garbage\n")
    assert response.status_code == 400
    assert response.json()["detail"]["rejected"] == 2
    assert harness.ingested == []
    empty = await post(harness, b"\n\n")
    assert empty.status_code == 400 and empty.json()["error"] == "the body holds no events"


async def test_oversize_bodies_are_413_whether_declared_or_streamed(make_harness):
    harness = make_harness(max_ingest_bytes=1024)
    big = b"\n".join(orjson.dumps({"message": "x" * 100}) for _ in range(20))
    declared = await post(harness, big)
    assert declared.status_code == 413
    assert declared.json()["detail"] == {"max_ingest_bytes": 1024}

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b'{"message": "' + b"y" * 100 + b'"}\n'

    async with harness.client(REMOTE) as client:
        streamed = await client.post("/api/v1/ingest", content=chunks(), headers=HEADERS)
    assert streamed.status_code == 413
    assert harness.ingested == []


async def test_too_many_events_is_413(make_harness):
    harness = make_harness(max_ingest_events=3)
    response = await post(harness, b'{"a": 1}\n' * 4)
    assert response.status_code == 413
    assert response.json()["detail"] == {"max_ingest_events": 3}
    assert (await post(harness, b'{"a": 1}\n' * 3)).status_code == 202


async def test_compressed_bodies_are_415(harness):
    response = await post(harness, b"\x1f\x8b...", headers={**HEADERS,
                                                           "Content-Encoding": "gzip"})
    assert response.status_code == 415


async def test_202_only_after_the_pipeline_took_the_events(make_harness):
    taken = asyncio.Event()
    release = asyncio.Event()

    async def slow_pipeline(events):
        taken.set()
        await release.wait()  # the queue is full: the agent waits (backpressure)

    harness = make_harness(ingest=slow_pipeline)
    request = asyncio.create_task(post(harness, b'{"a": 1}\n'))
    await asyncio.wait_for(taken.wait(), 5)
    await asyncio.sleep(0.05)
    assert not request.done()
    release.set()
    assert (await asyncio.wait_for(request, 5)).status_code == 202


@pytest.mark.parametrize("behaviour, error", [
    ("hang", "the pipeline is full; retry later"),
    ("fail", "the pipeline did not take the events; retry later"),
    (None, "ingest is not enabled on this server"),
])
async def test_a_pipeline_that_cannot_take_events_is_503_with_retry_after(
        make_harness, behaviour, error):
    async def hang(events):
        await asyncio.sleep(30)

    async def fail(events):
        raise RuntimeError("queue closed")

    harness = make_harness(ingest={"hang": hang, "fail": fail, None: None}[behaviour],
                           ingest_timeout_secs=0.05)
    response = await post(harness, b'{"a": 1}\n')
    assert response.status_code == 503
    assert response.json()["error"] == error
    assert response.headers["retry-after"]
