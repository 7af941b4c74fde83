"""Who may call what: no tokens configured, wrong tokens, each role, loopback trust, and the
same over a real uvicorn server."""
from __future__ import annotations

import asyncio
import hashlib
import logging

import httpx
import pytest

from api.app import create_app
from api.roles import GRANTS, Permission, Role
from api.server import build_server
from api.settings import ApiSettings
from prometheus_client import CollectorRegistry
from tests.api.conftest import LOOPBACK, REMOTE, TOKENS, MemoryStore, bearer

NDJSON = {"Content-Type": "application/x-ndjson"}


# -- no token configured ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/readyz"])
async def test_without_tokens_loopback_may_read_health_and_metrics(make_harness, path):
    harness = make_harness(tokens={})
    async with harness.client(LOOPBACK) as client:
        assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/readyz", "/api/v1/events"])
async def test_without_tokens_remote_clients_are_refused_everything(make_harness, path):
    harness = make_harness(tokens={})
    async with harness.client(REMOTE) as client:
        response = await client.get(path)
    assert response.status_code == 401
    assert response.json()["detail"]["reason"] == "no_tokens_configured"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_without_tokens_loopback_cannot_read_events_or_ingest(make_harness):
    harness = make_harness(tokens={})
    async with harness.client(LOOPBACK) as client:
        events = await client.get("/api/v1/events")
        ingest = await client.post("/api/v1/ingest", content=b'{"a": 1}\n', headers=NDJSON)
        # Even a plausible-looking token cannot work when none is configured.
        guessed = await client.get("/api/v1/events", headers=bearer("operator"))
    assert [events.status_code, ingest.status_code, guessed.status_code] == [401, 401, 401]
    assert "no API tokens are configured" in events.json()["error"]
    assert harness.ingested == []
    assert harness.sample("shouwang_api_auth_failures_total",
                          {"reason": "no_tokens_configured"}) == 3


# -- tokens configured ------------------------------------------------------------------------

async def test_missing_token_is_401_with_a_bearer_challenge(harness):
    async with harness.client(REMOTE) as client:
        response = await client.get("/api/v1/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shouwang"'
    assert response.json() == {"error": "a bearer token is required",
                               "detail": {"reason": "missing"}}


@pytest.mark.parametrize("header, reason", [
    ("Bearer not-a-configured-token-at-all", "invalid_token"),
    (f"Bearer {TOKENS['operator']}x", "invalid_token"),
    ("Basic dXNlcjpwYXNz", "malformed"),
    ("Bearer ", "malformed"),
])
async def test_wrong_tokens_are_401_and_counted(harness, header, reason):
    async with harness.client(REMOTE) as client:
        response = await client.get("/api/v1/events", headers={"Authorization": header})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["detail"]["reason"] == reason
    assert harness.sample("shouwang_api_auth_failures_total", {"reason": reason}) == 1


def _expected(permission: Permission, role: Role) -> bool:
    return role in GRANTS[permission]


@pytest.mark.parametrize("role", [role.value for role in Role])
async def test_each_role_gets_exactly_its_permissions(harness, role):
    async with harness.client(REMOTE) as client:
        events = await client.get("/api/v1/events", headers=bearer(role))
        ingest = await client.post("/api/v1/ingest", content=b'{"message": "hi"}\n',
                                   headers={**bearer(role), **NDJSON})
        metrics = await client.get("/metrics", headers=bearer(role))
    role_enum = Role(role)
    assert events.status_code == (200 if _expected(Permission.EVENTS_READ, role_enum) else 403)
    assert ingest.status_code == (202 if _expected(Permission.INGEST, role_enum) else 403)
    assert metrics.status_code == (200 if _expected(Permission.MONITOR_READ, role_enum)
                                   else 403)


def test_the_role_table_follows_separation_of_duties():
    readers = {Role.OPERATOR, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN, Role.SYSTEM_ADMIN}
    assert GRANTS[Permission.EVENTS_READ] == readers
    assert GRANTS[Permission.INGEST] == {Role.AGENT, Role.SYSTEM_ADMIN}


async def test_forbidden_role_is_403_and_names_no_token(harness, caplog):
    caplog.set_level(logging.DEBUG)
    async with harness.client(REMOTE) as client:
        response = await client.post("/api/v1/ingest", content=b'{"a": 1}\n',
                                     headers={**bearer("operator"), **NDJSON})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert harness.sample("shouwang_api_auth_failures_total", {"reason": "forbidden_role"}) == 1
    assert "token_id=operator" in caplog.text
    assert all(token not in caplog.text for token in TOKENS.values())


async def test_tokens_never_reach_the_logs(harness, caplog):
    caplog.set_level(logging.DEBUG)
    async with harness.client(REMOTE) as client:
        await client.get("/api/v1/events", headers={"Authorization": "Bearer leaked-value-123"})
        await client.get("/api/v1/events", headers=bearer("audit_admin"))
    assert "leaked-value-123" not in caplog.text
    assert TOKENS["audit_admin"] not in caplog.text


# -- loopback trust ---------------------------------------------------------------------------

async def test_metrics_from_a_remote_client_needs_a_token(harness):
    async with harness.client(REMOTE) as client:
        anonymous = await client.get("/metrics")
        with_token = await client.get("/metrics", headers=bearer("operator"))
    assert anonymous.status_code == 401
    assert with_token.status_code == 200


async def test_loopback_may_scrape_metrics_without_a_token(harness):
    async with harness.client(LOOPBACK) as client:
        assert (await client.get("/metrics")).status_code == 200
        # ... but loopback is no token for data.
        assert (await client.get("/api/v1/events")).status_code == 401


async def test_ipv6_and_mapped_loopback_are_loopback(harness):
    for peer in (("::1", 5000), ("::ffff:127.0.0.1", 5000)):
        async with harness.client(peer) as client:
            assert (await client.get("/metrics")).status_code == 200


async def test_loopback_trust_can_be_switched_off(make_harness):
    harness = make_harness(trusted_loopback=False)
    async with harness.client(LOOPBACK) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer("operator"))).status_code == 200


async def test_healthz_answers_anyone_once_tokens_exist(harness):
    async with harness.client(REMOTE) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# -- settings ---------------------------------------------------------------------------------

def test_token_from_a_secret_reference_is_hashed_at_start(monkeypatch):
    monkeypatch.setenv("SW_TEST_TOKEN", "a-long-enough-token-value-42")
    settings = ApiSettings(tokens={"ops": {"role": "operator", "secret": "env:SW_TEST_TOKEN"}})
    app = create_app(settings, store=MemoryStore(), registry=CollectorRegistry())

    async def call():
        transport = httpx.ASGITransport(app=app, client=REMOTE)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            good = await client.get("/api/v1/events",
                                    headers={"Authorization": "Bearer a-long-enough-token-value-42"})
            bad = await client.get("/api/v1/events", headers={"Authorization": "Bearer env:SW"})
        return good.status_code, bad.status_code

    assert asyncio.run(call()) == (200, 401)
    assert "a-long-enough" not in repr(settings)


def test_unusable_token_settings_fail_at_start(monkeypatch):
    from core.errors import ConfigError
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of sha256 or secret"):
        ApiSettings(tokens={"x": {"role": "operator"}})
    with pytest.raises(ValidationError, match="64 hex digits"):
        ApiSettings(tokens={"x": {"role": "operator", "sha256": "abc"}})
    with pytest.raises(ValidationError):
        ApiSettings(tokens={"x": {"role": "root", "sha256": "0" * 64}})
    with pytest.raises(ValidationError, match="literal secrets"):
        ApiSettings(tokens={"x": {"role": "operator", "secret": "hunter2"}})
    monkeypatch.setenv("SW_SHORT", "short")
    with pytest.raises(ConfigError, match="shorter than"):
        create_app(ApiSettings(tokens={"x": {"role": "operator", "secret": "env:SW_SHORT"}}),
                   store=MemoryStore(), registry=CollectorRegistry())
    digest = hashlib.sha256(b"same-token-for-both-of-them").hexdigest()
    with pytest.raises(ConfigError, match="same token"):
        create_app(ApiSettings(tokens={"a": {"role": "operator", "sha256": digest},
                                       "b": {"role": "agent", "sha256": digest}}),
                   store=MemoryStore(), registry=CollectorRegistry())


# -- over a real server -----------------------------------------------------------------------

@pytest.fixture
async def live_server(make_harness):
    harness = make_harness()
    settings = ApiSettings(host="127.0.0.1")
    server = build_server(harness.app, settings, port=0)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield harness, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_end_to_end_auth_over_a_real_server(live_server):
    harness, url = live_server
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200  # loopback scrape
        missing = await client.get("/api/v1/events")
        wrong = await client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})
        operator = await client.get("/api/v1/events", headers=bearer("operator"))
        agent_reads = await client.get("/api/v1/events", headers=bearer("agent"))
        agent_ships = await client.post("/api/v1/ingest", content=b'{"message": "up"}\n',
                                        headers={**bearer("agent"), **NDJSON})
        operator_ships = await client.post("/api/v1/ingest", content=b'{"message": "x"}\n',
                                           headers={**bearer("operator"), **NDJSON})
    assert missing.status_code == 401 and "www-authenticate" in missing.headers
    assert wrong.status_code == 401
    assert operator.status_code == 200 and operator.json() == {"events": [],
                                                                "next_cursor": None}
    assert agent_reads.status_code == 403
    assert agent_ships.status_code == 202 and agent_ships.json()["accepted"] == 1
    assert operator_ships.status_code == 403
    assert [e["message"] for batch in harness.ingested for e in batch] == ["up"]
    assert "server" not in agent_ships.headers  # no version banner for scanners
