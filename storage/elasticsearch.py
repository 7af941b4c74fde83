"""The cluster store (`type: elasticsearch`): data streams per dataset, ILM retention.

Contract: storage/base.py. Specifics:
- open() installs (idempotently) the ILM policy and the index template (storage/es_requests.py);
  an unreachable cluster raises StoreUnavailable, so the spool takes over until it returns.
- write() sends one _bulk per batch with `create` actions keyed by event.id. Connection
  failures, 429 and 5xx (of the request or of single items) are retried with exponential
  backoff; after `max_retries` it raises (StoreUnavailable / StoreError) and the spool keeps
  the batch. 409 (already stored) counts as done. An event the cluster rejects for good
  (mapping conflict) is not dropped: it is stored as a pipeline_error event carrying the
  original JSON in event.original, and counted in shouwang_component_errors{stage="rejected"}.
- search/count_by use the query DSL on `logs-*-<namespace>`; apply_retention returns 0
  because ILM deletes old backing indices inside the cluster.
- Secrets (api_key, password) are SecretRefs, revealed only to build the client.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch
from pydantic import Field, model_validator

from core.components import BuildContext, ComponentSpec
from core.errors import InputError, StoreError, StoreUnavailable
from core.events import pipeline_error_event
from core.metrics import PipelineMetrics
from core.secrets import SecretRef
from core.settings import StrictModel
from storage import es_requests
from storage.base import Query, SearchResult
from storage.cursor import decode_cursor, encode_cursor
from storage.spool import SpoolSettings, wrap_in_spool
from storage.sqlite_query import check_limit

log = logging.getLogger(__name__)

BACKEND = "elasticsearch"
RETRYABLE_STATUS = frozenset((429, 500, 502, 503, 504))
UNREACHABLE = (TransportConnectionError, ConnectionTimeout)


class ElasticsearchSettings(StrictModel):
    type: Literal["elasticsearch"] = "elasticsearch"
    hosts: list[str] = Field(["https://127.0.0.1:9200"], min_length=1)
    api_key: SecretRef | None = Field(None, description="env:NAME or file:/path")
    username: str | None = None
    password: SecretRef | None = Field(None, description="env:NAME or file:/path")
    ca_certs: Path | None = Field(None, description="CA bundle that signed the cluster's cert")
    verify_certs: bool = True
    namespace: str = Field("default", pattern=r"^[a-z0-9_]{1,100}$",
                           description="data streams are logs-<event.dataset>-<namespace>")
    retention_days: int = Field(180, ge=1, description="ILM deletes indices this old (the "
                                "law asks for at least six months of security logs)")
    request_timeout_secs: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20, description="bulk retries before spooling")
    retry_backoff_secs: float = Field(0.5, gt=0, le=60)
    retry_backoff_max_secs: float = Field(10.0, gt=0, le=600)
    refresh_on_write: bool = Field(False, description="make each batch searchable at once "
                                   "(slow; for tests)")
    spool: SpoolSettings = Field(default_factory=SpoolSettings)

    @model_validator(mode="after")
    def _one_auth(self):
        if self.api_key is not None and self.username is not None:
            raise ValueError("use either api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


def build_client(settings: ElasticsearchSettings) -> AsyncElasticsearch:
    auth = {}
    if settings.api_key is not None:
        auth["api_key"] = settings.api_key.reveal()
    elif settings.username is not None:
        auth["basic_auth"] = (settings.username, settings.password.reveal())
    return AsyncElasticsearch(
        settings.hosts, **auth, ca_certs=str(settings.ca_certs) if settings.ca_certs else None,
        verify_certs=settings.verify_certs, request_timeout=settings.request_timeout_secs,
        # httpx is already a dependency; retries are ours (they must end in the spool).
        node_class="httpxasync", max_retries=0, retry_on_timeout=False)


class ElasticsearchStore:
    """Events in Elasticsearch data streams (see the module docstring)."""

    def __init__(self, name: str, settings: ElasticsearchSettings,
                 metrics: PipelineMetrics | None = None, client_factory=build_client):
        self.name = name
        self.settings = settings
        self.metrics = metrics
        self._client_factory = client_factory
        self._client: AsyncElasticsearch | None = None
        self._ready = False
        self.policy_name = f"shouwang-logs-{settings.namespace}"

    async def open(self) -> None:
        if self._client is None:
            self._client = self._client_factory(self.settings)
        await self._call("set up", self._setup)

    async def _setup(self) -> None:
        client = self._client
        await client.ilm.put_lifecycle(
            name=self.policy_name, policy=es_requests.ilm_policy(self.settings.retention_days))
        await client.indices.put_index_template(
            name=self.policy_name,
            **es_requests.index_template(self.settings.namespace, self.policy_name))
        self._ready = True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._ready = False

    async def _call(self, what: str, function, *args, **kwargs):
        """Run a client call, turning transport errors into our StoreError family."""
        if self._client is None:
            raise StoreError(f"store {self.name} is not open")
        try:
            return await function(*args, **kwargs)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"Elasticsearch {self.settings.hosts} unreachable during "
                                   f"{what}: {exc}") from None
        except ApiError as exc:
            if exc.status_code in RETRYABLE_STATUS:
                raise StoreUnavailable(f"Elasticsearch busy during {what}: {exc}") from None
            if exc.status_code in (401, 403):
                raise StoreError(f"Elasticsearch refused our credentials during {what}: "
                                 f"{exc}") from None
            raise StoreError(f"Elasticsearch failed {what}: {exc}") from None

    # -- writing ----------------------------------------------------------------------------
    async def write(self, events: list[dict]) -> None:
        if not events:
            return
        if not self._ready:
            await self.open()
        pending = events
        delay = self.settings.retry_backoff_secs
        for attempt in range(self.settings.max_retries + 1):
            try:
                response = await self._call(
                    "bulk write", self._client.bulk,
                    operations=es_requests.bulk_body(pending, self.settings.namespace),
                    refresh="wait_for" if self.settings.refresh_on_write else None)
                pending = self._unfinished(pending, response)
                if not pending:
                    return
                failure: StoreError = StoreUnavailable(
                    f"Elasticsearch did not take {len(pending)} events (busy)")
            except StoreUnavailable as exc:
                failure = exc
            if attempt < self.settings.max_retries:
                log.info("store %s: %s; retry %d in %.1fs", self.name, failure, attempt + 1,
                         delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_backoff_max_secs)
        raise failure

    def _unfinished(self, sent: list[dict], response) -> list[dict]:
        """Events to send again: retryable failures, and permanent rejections as
        pipeline_error events (never a silent drop)."""
        if not response.get("errors"):
            return []
        again = []
        for event, item in zip(sent, response["items"]):
            result = next(iter(item.values()))
            status = result.get("status", 500)
            if status < 300 or status == 409:
                continue
            if status in RETRYABLE_STATUS:
                again.append(event)
                continue
            reason = orjson.dumps(result.get("error", {})).decode()
            log.warning("store %s: Elasticsearch rejected event %s: %s", self.name,
                        event.get("event.id"), reason)
            if self.metrics is not None:
                self.metrics.errors.labels(self.name, "rejected").inc()
            if event.get("event.kind") != "pipeline_error":
                again.append(pipeline_error_event(
                    self.name, "rejected", reason,
                    original=orjson.dumps(event, default=str).decode()))
        return again

    # -- reading ----------------------------------------------------------------------------
    async def _search(self, what: str, body: dict) -> dict:
        try:
            return await self._call(
                what, self._client.search, index=es_requests.stream_pattern(
                    self.settings.namespace), ignore_unavailable=True, allow_no_indices=True,
                **body)
        except StoreError as exc:
            if "400" in str(exc) or "BadRequest" in str(exc):
                raise InputError(f"Elasticsearch rejected the query: {exc}") from None
            raise

    async def search(self, query: Query) -> SearchResult:
        check_limit(query.limit)
        search_after = decode_cursor(BACKEND, query.cursor) if query.cursor else None
        response = await self._search("search", es_requests.search_request(query, search_after))
        hits = response["hits"]["hits"]
        events = [hit["_source"] for hit in hits[:query.limit]]
        next_cursor = None
        if len(hits) > query.limit:
            next_cursor = encode_cursor(BACKEND, hits[query.limit - 1]["sort"])
        return SearchResult(events, next_cursor)

    async def count_by(self, field_name: str, query: Query, limit: int = 10
                       ) -> list[tuple[str, int]]:
        response = await self._search("count", es_requests.count_request(field_name, query,
                                                                         limit))
        buckets = response.get("aggregations", {}).get("by_value", {}).get("buckets", [])
        return [(bucket.get("key_as_string", str(bucket["key"])), bucket["doc_count"])
                for bucket in buckets]

    async def apply_retention(self, now: float) -> int:
        return 0        # ILM deletes old backing indices inside the cluster

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except Exception:
            return False


def build_store(component_id: str, settings: ElasticsearchSettings, ctx: BuildContext):
    store = ElasticsearchStore(component_id, settings, ctx.metrics)
    return wrap_in_spool(component_id, store, settings.spool, ctx)


SPEC = ComponentSpec(type="elasticsearch", settings=ElasticsearchSettings, build=build_store,
                     description="Elasticsearch cluster: data streams per dataset, ILM "
                                 "retention, bulk writes with retry")
