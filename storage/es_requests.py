"""Request bodies for Elasticsearch, as pure functions (unit-tested without a cluster).

- Data streams: `logs-<dataset>-<namespace>`, the Elastic naming scheme, so each dataset has
  its own mappings lifecycle and can be deleted or re-indexed alone.
- The index template maps our hot fields with ECS types (ip, keyword, date_nanos for our
  microsecond timestamps, text for message and the raw line) and maps every other string as
  keyword, so a
  filter on any field is an exact term match, as in the sqlite backend. Malformed values
  (an IP that is not one) are ignored in the index instead of rejecting the event.
- Retention is an ILM policy that deletes backing indices `retention_days` after rollover.
"""
from __future__ import annotations

import re

import orjson

from core.events import format_ts, new_event_id
from storage.base import Query

TEMPLATE_PRIORITY = 500      # above Elastic's built-in `logs` template (priority 100)
_DATASET_BAD = re.compile(r"[^a-z0-9_.]+")

HOT_MAPPINGS = {
    "@timestamp": {"type": "date_nanos"},
    "event.created": {"type": "date_nanos"},
    "event.id": {"type": "keyword"},
    "event.dataset": {"type": "keyword"},
    "event.kind": {"type": "keyword"},
    "event.action": {"type": "keyword"},
    "event.outcome": {"type": "keyword"},
    # ECS leaves the raw line unindexed; ours is searched as text, since access-log events have
    # no message and full-text search must find them, as the sqlite backend does.
    "event.original": {"type": "match_only_text"},
    "source.ip": {"type": "ip"},
    "destination.ip": {"type": "ip"},
    "host.name": {"type": "keyword"},
    "user.name": {"type": "keyword"},
    "message": {"type": "text"},
}


TEXT_FIELDS = ("message", "event.original")


def dataset_name(dataset) -> str:
    """A dataset usable in a data stream name: lowercase, no '-' (it separates the parts)."""
    text = _DATASET_BAD.sub("_", str(dataset or "generic").lower()).strip("._")[:100]
    return text or "generic"


def stream_name(dataset, namespace: str) -> str:
    return f"logs-{dataset_name(dataset)}-{namespace}"


def stream_pattern(namespace: str) -> str:
    return f"logs-*-{namespace}"


def ilm_policy(retention_days: int, rollover_max_age_days: int = 1) -> dict:
    return {"phases": {
        "hot": {"actions": {"rollover": {"max_age": f"{rollover_max_age_days}d",
                                         "max_primary_shard_size": "50gb"}}},
        "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
    }}


def index_template(namespace: str, policy_name: str) -> dict:
    """Keyword arguments of indices.put_index_template."""
    return {
        "index_patterns": [stream_pattern(namespace)],
        "data_stream": {},
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"index.lifecycle.name": policy_name,
                         "index.mapping.ignore_malformed": True},
            "mappings": {
                "dynamic_templates": [{"strings_as_keyword": {
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": 8191}}}],
                "properties": HOT_MAPPINGS,
            },
        },
        "_meta": {"managed_by": "shouwang"},
    }


def bulk_body(events: list[dict], namespace: str) -> bytes:
    """NDJSON for _bulk: `create` (data streams are append-only) with _id = event.id, so a
    batch sent twice stores each event once (the second attempt gets 409, counted as done)."""
    dumps = orjson.dumps
    lines = []
    for event in events:
        event_id = event.get("event.id")
        if not isinstance(event_id, str) or not event_id:
            event = {**event, "event.id": new_event_id()}
            event_id = event["event.id"]
        action = {"create": {"_index": stream_name(event.get("event.dataset"), namespace),
                             "_id": event_id}}
        lines.append(dumps(action))
        lines.append(dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS))
    lines.append(b"")
    return b"\n".join(lines)


def query_dsl(query: Query) -> dict:
    """The bool query for a Query (time range, term filters, full text)."""
    clauses: list[dict] = []
    if query.start is not None or query.end is not None:
        bounds = {}
        if query.start is not None:
            bounds["gte"] = format_ts(query.start)
        if query.end is not None:
            bounds["lt"] = format_ts(query.end)
        clauses.append({"range": {"@timestamp": bounds}})
    for field_name, values in query.filters.items():
        if isinstance(values, str):
            values = (values,)
        clauses.append({"terms": {field_name: [str(value) for value in values]}})
    must = []
    if query.text and query.text.split():
        # `match` takes words, never query syntax: user input cannot make the search fail.
        must.append({"multi_match": {"query": query.text, "operator": "and",
                                     "fields": list(TEXT_FIELDS)}})
    return {"bool": {"filter": clauses, "must": must}}


SORT = [{"@timestamp": {"order": "desc"}}, {"event.id": {"order": "desc"}}]


def search_request(query: Query, search_after: list | None) -> dict:
    request = {"query": query_dsl(query), "sort": SORT, "size": query.limit + 1,
               "track_total_hits": False}
    if search_after is not None:
        request["search_after"] = search_after
    return request


def count_request(field_name: str, query: Query, limit: int) -> dict:
    return {"query": query_dsl(query), "size": 0,
            "aggs": {"by_value": {"terms": {"field": field_name, "size": limit,
                                            "order": [{"_count": "desc"}, {"_key": "asc"}]}}}}
