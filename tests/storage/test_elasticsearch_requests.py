"""What the Elasticsearch store sends, checked against a tiny ES look-alike on 127.0.0.1.

The server records every request and answers like Elasticsearch (with the
X-Elastic-Product header the official client insists on); tests script bulk failures.
"""
from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import orjson
import pytest

from core.errors import InputError, StoreUnavailable
from storage.base import Query
from storage.elasticsearch import ElasticsearchSettings, ElasticsearchStore
from tests.storage.contract import NOW, event
from tests.support.elastic_http import ElasticHandler


class FakeElasticsearch(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, bytes, dict]] = []
        self.bulk_replies: list = []          # per _bulk call: status int or item statuses
        self.search_reply: dict = {"hits": {"hits": []}}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self, method: str) -> list[str]:
        return [path for m, path, _, _ in self.requests if m == method]


class _Handler(ElasticHandler):

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server: FakeElasticsearch = self.server
        server.requests.append((self.command, self.path, body,
                                {k.lower(): v for k, v in self.headers.items()}))
        path = self.path.split("?")[0]
        if path == "/_bulk":
            actions = [orjson.loads(line) for line in body.splitlines()[0::2]]
            reply = server.bulk_replies.pop(0) if server.bulk_replies else None
            if isinstance(reply, int):
                return self._reply(reply, {"error": {"type": "scripted", "reason": "busy"}})
            statuses = reply or [201] * len(actions)
            items = [{"create": {"_index": a["create"]["_index"], "status": s,
                                 **({"error": {"type": "mapper_parsing_exception"}}
                                    if s == 400 else {})}}
                     for a, s in zip(actions, statuses)]
            return self._reply(200, {"errors": any(s >= 300 for s in statuses),
                                     "items": items})
        if path.endswith("/_search"):
            return self._reply(200, server.search_reply)
        if path == "/":
            return self._reply(200, {"version": {"number": "9.1.0"}, "tagline": "You Know"})
        return self._reply(200, {"acknowledged": True})

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@pytest.fixture
def fake_es():
    server = FakeElasticsearch()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def settings(url: str, **extra) -> ElasticsearchSettings:
    return ElasticsearchSettings(hosts=[url], namespace="prod", retention_days=180,
                                 retry_backoff_secs=0.01, retry_backoff_max_secs=0.02, **extra)


async def test_open_installs_ilm_policy_and_ecs_template(fake_es, monkeypatch):
    monkeypatch.setenv("ES_KEY", "c2VjcmV0")
    store = ElasticsearchStore("store", settings(fake_es.url, api_key="env:ES_KEY"))
    await store.open()
    puts = {path: json.loads(body) for method, path, body, _ in fake_es.requests
            if method == "PUT"}
    policy = puts["/_ilm/policy/shouwang-logs-prod"]["policy"]
    assert policy["phases"]["delete"] == {"min_age": "180d", "actions": {"delete": {}}}
    template = puts["/_index_template/shouwang-logs-prod"]
    assert template["index_patterns"] == ["logs-*-prod"] and template["data_stream"] == {}
    assert template["priority"] > 100
    mappings = template["template"]["mappings"]["properties"]
    assert mappings["source.ip"] == {"type": "ip"}
    assert mappings["message"] == {"type": "text"}
    assert mappings["event.id"]["type"] == "keyword"
    assert mappings["@timestamp"]["type"].startswith("date")
    assert template["template"]["settings"]["index.lifecycle.name"] == "shouwang-logs-prod"
    headers = fake_es.requests[0][3]
    assert headers["authorization"] == "ApiKey c2VjcmV0"
    await store.close()


async def test_bulk_creates_by_event_id_into_a_stream_per_dataset(fake_es):
    store = ElasticsearchStore("store", settings(fake_es.url))
    await store.open()
    events = [event(NOW, "nginx.access", message="GET / 200 登录"),
              event(NOW, "Sshd-Auth", message="Failed password")]
    await store.write(events)
    body = [body for method, path, body, _ in fake_es.requests if path.startswith("/_bulk")][0]
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert lines[0] == {"create": {"_index": "logs-nginx.access-prod",
                                   "_id": events[0]["event.id"]}}
    assert lines[1] == events[0]
    assert lines[2]["create"]["_index"] == "logs-sshd_auth-prod"
    await store.close()


async def test_bulk_retries_busy_cluster_and_failed_items_with_backoff(fake_es):
    store = ElasticsearchStore("store", settings(fake_es.url))
    await store.open()
    fake_es.bulk_replies = [503, [201, 429, 409], [201]]
    events = [event(NOW - i, message=f"m{i}") for i in range(3)]
    await store.write(events)
    bulks = [body for method, path, body, _ in fake_es.requests if path.startswith("/_bulk")]
    assert len(bulks) == 3
    last = [orjson.loads(line) for line in bulks[-1].splitlines()]
    assert last[1] == events[1]           # only the item that got 429 is sent again
    await store.close()


async def test_rejected_event_is_stored_as_a_pipeline_error_not_dropped(fake_es):
    store = ElasticsearchStore("store", settings(fake_es.url))
    await store.open()
    fake_es.bulk_replies = [[201, 400]]
    events = [event(NOW, message="fine"), event(NOW, message="bad", source__ip="not-an-ip")]
    await store.write(events)
    bulks = [body for method, path, body, _ in fake_es.requests if path.startswith("/_bulk")]
    resent = [orjson.loads(line) for line in bulks[-1].splitlines()]
    assert resent[1]["event.kind"] == "pipeline_error"
    assert orjson.loads(resent[1]["event.original"]) == events[1]
    await store.close()


async def test_unreachable_cluster_is_store_unavailable(fake_es):
    url = fake_es.url
    fake_es.shutdown()
    fake_es.server_close()
    store = ElasticsearchStore("store", settings(url, max_retries=1))
    with pytest.raises(StoreUnavailable, match="unreachable"):
        await store.open()
    await store.close()


async def test_search_builds_query_dsl_and_pages_with_search_after(fake_es):
    store = ElasticsearchStore("store", settings(fake_es.url))
    await store.open()
    hits = [{"_source": {"message": f"m{i}"}, "sort": [1000 - i, f"id{i}"]} for i in range(3)]
    fake_es.search_reply = {"hits": {"hits": hits}}
    query = Query(start=NOW - 60, end=NOW, filters={"source.ip": ("10.0.0.1", "10.0.0.2")},
                  text='"unbalanced AND', limit=2)
    page = await store.search(query)
    assert [e["message"] for e in page.events] == ["m0", "m1"]
    request = json.loads([body for m, path, body, _ in fake_es.requests
                          if path.startswith("/logs-*-prod/_search")][-1])
    filters = request["query"]["bool"]["filter"]
    assert {"terms": {"source.ip": ["10.0.0.1", "10.0.0.2"]}} in filters
    assert filters[0]["range"]["@timestamp"]["lt"].endswith("Z")
    assert request["query"]["bool"]["must"] == [
        {"multi_match": {"query": '"unbalanced AND', "operator": "and",
                         "fields": ["message", "event.original"]}}]
    assert request["size"] == 3 and request["sort"][0] == {"@timestamp": {"order": "desc"}}

    await store.search(Query(limit=2, cursor=page.next_cursor))
    request = json.loads(fake_es.requests[-1][2])
    assert request["search_after"] == [999, "id1"]
    with pytest.raises(InputError):
        await store.search(Query(cursor="garbage"))
    await store.close()


async def test_count_by_uses_a_terms_aggregation(fake_es):
    store = ElasticsearchStore("store", settings(fake_es.url))
    await store.open()
    fake_es.search_reply = {"hits": {"hits": []}, "aggregations": {"by_value": {"buckets": [
        {"key": "10.0.0.1", "doc_count": 5}, {"key": "10.0.0.2", "doc_count": 3}]}}}
    assert await store.count_by("source.ip", Query(), limit=2) == [
        ("10.0.0.1", 5), ("10.0.0.2", 3)]
    request = json.loads(fake_es.requests[-1][2])
    assert request["aggs"]["by_value"]["terms"] == {
        "field": "source.ip", "size": 2, "order": [{"_count": "desc"}, {"_key": "asc"}]}
    await store.close()


def test_settings_refuse_literal_secrets_and_mixed_auth():
    with pytest.raises(ValueError, match="reference"):
        ElasticsearchSettings(api_key="plaintext-key")
    with pytest.raises(ValueError, match="either api_key"):
        ElasticsearchSettings(api_key="env:A", username="u", password="env:B")
    assert "env:B" not in repr(ElasticsearchSettings(username="u", password="env:B"))
