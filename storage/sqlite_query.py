"""SQL for a `Query` against one partition: the WHERE clause, search and count_by statements.

Everything user-supplied is bound as a parameter; field names become JSON paths only after
validation, and full text is quoted so FTS5 syntax in user input ("AND", quotes, `*`, `:`)
is matched as words instead of failing: each whitespace-separated word must occur.
"""
from __future__ import annotations

import re

from core.errors import InputError
from storage.base import Query
from storage.sqlite_rows import HOT_COLUMN, US_PER_SEC

MAX_LIMIT = 10_000
_FIELD_NAME = re.compile(r'^[^"\\\x00-\x1f]{1,256}$')

# A JSON value as the text a user would type: true/false stay words, numbers become digits.
_JSON_VALUE_TEXT = ("CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                    "WHEN 'null' THEN NULL ELSE CAST(j.value AS TEXT) END")


def json_path(field_name: str) -> str:
    if not _FIELD_NAME.match(field_name):
        raise InputError(f"invalid field name {field_name!r}")
    return f'$."{field_name}"'


def fts_expression(text: str | None) -> str | None:
    """An FTS5 query matching every word of `text` as a literal, or None for no text."""
    if text is None:
        return None
    words = text.split()
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}, not {limit!r}")


def _json_match(field_name: str, values: tuple, params: list) -> str:
    params.append(json_path(field_name))
    params.extend(values)
    marks = ", ".join("?" for _ in values)
    return (f"EXISTS (SELECT 1 FROM json_each(CAST(e.doc AS TEXT), ?) AS j "
            f"WHERE {_JSON_VALUE_TEXT} IN ({marks}))")


def where_clause(query: Query, match: str | None, cursor_key: list | None
                 ) -> tuple[str, list]:
    """WHERE text and its parameters (time range, filters, full text, cursor)."""
    clauses: list[str] = []
    params: list = []
    if query.start is not None:
        clauses.append("e.ts >= ?")
        params.append(round(query.start * US_PER_SEC))
    if query.end is not None:
        clauses.append("e.ts < ?")
        params.append(round(query.end * US_PER_SEC))
    for field_name, values in query.filters.items():
        if isinstance(values, str):
            values = (values,)
        values = tuple(str(value) for value in values)
        if not values:
            raise InputError(f"filter on {field_name!r} has no values")
        column = HOT_COLUMN.get(field_name)
        if column is not None:
            marks = ", ".join("?" for _ in values)
            params.extend(values)
            fallback = _json_match(field_name, values, params)
            clauses.append(f"(e.{column} IN ({marks}) "
                           f"OR (e.irregular AND e.{column} IS NULL AND {fallback}))")
        elif field_name == "message":
            params.extend(values)
            clauses.append(f"e.message IN ({', '.join('?' for _ in values)})")
        else:
            clauses.append(_json_match(field_name, values, params))
    if match is not None:
        clauses.append("e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
        params.append(match)
    if cursor_key is not None:
        ts_us, row_id = cursor_key
        clauses.append("e.ts <= ? AND (e.ts < ? OR e.id < ?)")
        params.extend((ts_us, ts_us, row_id))
    return (" AND ".join(clauses) or "1"), params


def search_sql(where: str) -> str:
    return (f"SELECT e.id, e.ts, e.doc FROM events AS e WHERE {where} "
            f"ORDER BY e.ts DESC, e.id DESC LIMIT ?")


def count_sql(field_name: str, where: str, where_params: list) -> tuple[str, list]:
    """Statement counting matching events per value of `field_name` (list values count once
    per element, as Elasticsearch's terms aggregation does)."""
    path = json_path(field_name)
    from_json = (f"SELECT {_JSON_VALUE_TEXT} AS v FROM events AS e, "
                 f"json_each(CAST(e.doc AS TEXT), ?) AS j WHERE {where}")
    if field_name == "message":
        return (f"SELECT e.message, count(*) FROM events AS e WHERE {where} "
                f"AND e.message IS NOT NULL GROUP BY e.message"), list(where_params)
    column = HOT_COLUMN.get(field_name)
    if column is None:
        return f"SELECT v, count(*) FROM ({from_json}) WHERE v IS NOT NULL GROUP BY v", \
            [path, *where_params]
    sql = (f"SELECT v, count(*) FROM ("
           f"SELECT e.{column} AS v FROM events AS e WHERE {where} AND e.{column} IS NOT NULL "
           f"UNION ALL {from_json} AND e.irregular AND e.{column} IS NULL) WHERE v IS NOT NULL GROUP BY v")
    return sql, [*where_params, path, *where_params]
