"""The API description, the error shape, and the audit hook."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from api.roles import Permission
from tests.api.conftest import REMOTE, bearer


async def test_openapi_schema_documents_the_stable_routes(harness):
    async with harness.client() as client:
        response = await client.get("/openapi.json")
        docs = await client.get("/docs")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/metrics", "/api/v1/events",
            "/api/v1/ingest"} <= set(schema["paths"])
    events = schema["paths"]["/api/v1/events"]["get"]
    assert {p["name"] for p in events["parameters"]} == {"start", "end", "filter", "q",
                                                        "limit", "cursor"}
    assert events["security"] == [{"bearer": []}]
    assert "422" not in events["responses"]  # we answer 400, not 422
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    ingest = schema["paths"]["/api/v1/ingest"]["post"]
    assert "application/x-ndjson" in ingest["requestBody"]["content"]
    assert ingest["x-shouwang-audit-exempt"] is True
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_remote_clients_need_a_token_for_the_description(harness):
    async with harness.client(REMOTE) as client:
        assert (await client.get("/openapi.json")).status_code == 401
        assert (await client.get("/openapi.json",
                                 headers=bearer("audit_admin"))).status_code == 200


async def test_errors_are_json_with_error_and_detail(harness):
    async with harness.client() as client:
        missing = await client.get("/api/v1/nothing-here")
        wrong_method = await client.delete("/api/v1/events", headers=bearer("operator"))
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "detail": None}
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"error", "detail"}


def add_admin_route(harness):
    """What a future admin endpoint looks like: a change, guarded, not exempt from audit."""
    router = APIRouter()
    gate = harness.app.state.gatekeeper

    @router.post("/api/v1/silences", dependencies=[Depends(gate.require(Permission.INGEST))])
    async def add_silence():
        return {"ok": True}

    harness.app.include_router(router)


async def test_change_making_requests_reach_the_audit_hook_without_secrets(harness):
    add_admin_route(harness)
    async with harness.client(REMOTE) as client:
        allowed = await client.post("/api/v1/silences", headers=bearer("system_admin"))
        refused = await client.post("/api/v1/silences",
                                    headers={"Authorization": "Bearer guessed-value"})
        await client.get("/api/v1/events", headers=bearer("operator"))  # a read: not audited
        await client.post("/api/v1/ingest", content=b'{"a": 1}\n',
                          headers=bearer("agent"))  # data, not a change: not audited
    assert (allowed.status_code, refused.status_code) == (200, 401)
    assert len(harness.audited) == 2
    done, denied = harness.audited
    assert done["user.id"] == "system_admin" and done["user.roles"] == ["system_admin"]
    assert done["event.action"] == "POST /api/v1/silences"
    assert done["event.outcome"] == "success" and done["source.ip"] == "10.1.2.3"
    assert done["@timestamp"].endswith("Z")
    assert denied["event.outcome"] == "failure" and denied["user.id"] is None
    assert denied["event.reason"] == "invalid_token"
    assert denied["http.response.status_code"] == 401
    assert "guessed-value" not in repr(harness.audited)


async def test_a_failing_audit_hook_is_counted(make_harness):
    def broken(record):
        raise OSError("disk full")

    harness = make_harness(audit=broken)
    add_admin_route(harness)
    async with harness.client(REMOTE) as client:
        response = await client.post("/api/v1/silences", headers=bearer("system_admin"))
    assert response.status_code == 200
    assert harness.sample("shouwang_api_audit_failures_total") == 1
