"""SQL for a `Query` against one partition: the WHERE clause, search and count_by statements.

Everything user-supplied is bound as a parameter; field names become JSON paths only after
validation, and full text is quoted so FTS5 syntax in user input ("AND", quotes, `*`, `:`)
is matched as words instead of failing: each whitespace-separated word must occur.
"""
from __future__ import annotations

import re

from core.errors import InputError
from storage.base import Query
from storage.sqlite_partition import BLOCK_INDEXED, BLOCK_SHIFT
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


def _block_candidates(column: str, values: tuple, time_range: list[tuple[str, int]],
                      regular_only: bool, params: list) -> str:
    """Ids of the rows that may hold one of `values` in `column`: one seek per block of its
    block index (storage/sqlite_partition.py), plus the irregular rows (column NULL, the
    document decides) unless `regular_only`."""
    params.extend(values)
    in_time = ""
    for operator, ts_us in time_range:
        in_time += f" AND x.ts {operator} ?"
        params.append(ts_us)
    irregular = "" if regular_only else " UNION ALL SELECT id FROM events WHERE irregular"
    return (f"e.id IN (WITH RECURSIVE blocks(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM blocks "
            f"WHERE n < (SELECT coalesce(max(id), 0) >> {BLOCK_SHIFT} FROM events)) "
            f"SELECT x.id FROM blocks JOIN events AS x ON (x.id >> {BLOCK_SHIFT}) = blocks.n "
            f"AND x.{column} IN ({', '.join('?' for _ in values)}){in_time}{irregular})")


def where_clause(query: Query, match: str | None, cursor_key: list | None,
                 regular_only: bool = False) -> tuple[str, list]:
    """WHERE text and its parameters (time range, filters, full text, cursor).

    `regular_only` compares hot fields by their column alone, which matches every row whose
    hot fields are plain strings and lets SQLite walk a column's index in time order; the
    other (irregular) rows need the JSON fallback, an OR that no index order can serve."""
    clauses: list[str] = []
    params: list = []
    time_range: list[tuple[str, int]] = []
    if query.start is not None:
        time_range.append((">=", round(query.start * US_PER_SEC)))
    if query.end is not None:
        time_range.append(("<", round(query.end * US_PER_SEC)))
    for operator, ts_us in time_range:
        clauses.append(f"e.ts {operator} ?")
        params.append(ts_us)
    for field_name, values in query.filters.items():
        if isinstance(values, str):
            values = (values,)
        values = tuple(str(value) for value in values)
        if not values:
            raise InputError(f"filter on {field_name!r} has no values")
        column = HOT_COLUMN.get(field_name)
        if column in BLOCK_INDEXED:
            clauses.append(_block_candidates(column, values, time_range, regular_only, params))
        if column is not None:
            marks = ", ".join("?" for _ in values)
            params.extend(values)
            if regular_only:
                clauses.append(f"e.{column} IN ({marks})")
                continue
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


_NEWEST_FIRST = "ORDER BY e.ts DESC, e.id DESC LIMIT ?"


def search_statement(query: Query, match: str | None, cursor_key: list | None, limit: int
                     ) -> tuple[str, list]:
    """(SQL, parameters) of one page of matching rows (id, ts, doc), newest first."""
    if not any(name in HOT_COLUMN for name in query.filters):
        where, params = where_clause(query, match, cursor_key)
        return f"SELECT e.id, e.ts, e.doc FROM events AS e WHERE {where} {_NEWEST_FIRST}", \
            [*params, limit]
    # Regular rows in index order (a limit of 100 reads ~100 rows, not every match), merged
    # with the irregular rows, which only the partial index events_irregular finds quickly
    # (left to itself SQLite walks a column index and checks every row); UNION drops an
    # irregular row that both halves found.
    regular, regular_params = where_clause(query, match, cursor_key, regular_only=True)
    irregular, irregular_params = where_clause(query, match, cursor_key)
    sql = (f"SELECT id, ts, doc FROM (SELECT e.id, e.ts, e.doc FROM events AS e WHERE {regular} "
           f"{_NEWEST_FIRST}) UNION SELECT id, ts, doc FROM (SELECT e.id, e.ts, e.doc FROM "
           f"events AS e INDEXED BY events_irregular WHERE e.irregular AND {irregular} {_NEWEST_FIRST}) "
           f"ORDER BY ts DESC, id DESC LIMIT ?")
    return sql, [*regular_params, limit, *irregular_params, limit, limit]


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
