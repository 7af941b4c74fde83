"""A STAND-IN for Elasticsearch (none can be installed here) on 127.0.0.1: a real HTTP server
that speaks just enough of the REST API for the scheduled Sigma tests.

What it does like Elasticsearch: `POST /<index>/_search` with a bool query whose `filter`
and `must` hold `range` (on @timestamp: gte/gt/lt/lte) and `term` clauses and whose
`must_not` holds `term` clauses; `sort` by @timestamp then event.id ascending; `size`;
`search_after`; `hits.total`;
`_id` = event.id. `_bulk` stores the documents it gets (the store's writes); index-template and
ILM calls are acknowledged. Every answer carries X-Elastic-Product, as the official client
insists.

What it does NOT do: evaluate Lucene. A `query_string` clause is recorded (tests assert what
pySigma put in it) and answered by `matcher(document)`, a predicate the test supplies for the
one rule it runs. Whether Elasticsearch evaluates the converted query as the in-process engine
does is tested against a real cluster (test_sigma_scheduled_es.py, SHOUWANG_TEST_ES_URL).
"""
from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Callable

import orjson

from core.events import event_epoch, parse_ts
from tests.support.elastic_http import ElasticHandler


class ElasticsearchStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, matcher: Callable[[dict], bool] = lambda document: True):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.matcher = matcher
        self.documents: list[dict] = []
        self.searches: list[tuple[str, dict]] = []     # (path, body)
        self.scripted: list[tuple[int, dict]] = []      # next _search answers: (status, body)
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def add(self, *documents: dict) -> None:
        with self.lock:
            self.documents.extend(documents)

    # -- the parts of _search it understands -------------------------------------------------
    def _clause(self, clause: dict, document: dict) -> bool:
        (kind, spec), = clause.items()
        if kind == "bool":
            return (all(self._clause(c, document)
                        for c in spec.get("filter", []) + spec.get("must", []))
                    and not any(self._clause(c, document) for c in spec.get("must_not", [])))
        if kind == "range":
            (field, bounds), = spec.items()
            value = event_epoch(document) if field == "@timestamp" else document.get(field)
            tests = {"gte": lambda b: value >= b, "gt": lambda b: value > b,
                     "lt": lambda b: value < b, "lte": lambda b: value <= b}
            return all(tests[op](parse_ts(bound) if field == "@timestamp" else bound)
                       for op, bound in bounds.items())
        if kind == "term":
            (field, value), = spec.items()
            return document.get(field) == (value["value"] if isinstance(value, dict) else value)
        if kind == "query_string":
            return self.matcher(document)
        raise AssertionError(f"the stand-in does not understand {kind!r}")

    def search(self, path: str, body: dict) -> dict:
        with self.lock:
            self.searches.append((path, body))
            found = [d for d in self.documents if self._clause(body["query"], d)]
        found.sort(key=lambda d: (event_epoch(d), d["event.id"]))
        total = len(found)
        if "search_after" in body:
            after = tuple(body["search_after"])
            found = [d for d in found if (event_epoch(d), d["event.id"]) > after]
        page = found[:body.get("size", 10)]
        return {"took": 1, "timed_out": False,
                "hits": {"total": {"value": total, "relation": "eq"},
                         "hits": [{"_index": "standin", "_id": d["event.id"], "_source": d,
                                   "sort": [event_epoch(d), d["event.id"]]} for d in page]}}


class _Handler(ElasticHandler):

    def _handle(self) -> None:
        server: ElasticsearchStandIn = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        if path.endswith("/_search"):
            with server.lock:
                scripted = server.scripted.pop(0) if server.scripted else None
            if scripted is not None:
                return self._reply(*scripted)
            return self._reply(200, server.search(path, orjson.loads(body or b"{}")))
        if path == "/_bulk":
            lines = body.splitlines()
            documents = [orjson.loads(line) for line in lines[1::2]]
            server.add(*documents)
            return self._reply(200, {"errors": False, "items": [
                {"create": {"_index": "standin", "status": 201}} for _ in documents]})
        if path == "/":
            return self._reply(200, {"version": {"number": "9.1.0"}})
        return self._reply(200, {"acknowledged": True})

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle
