"""One SQLite file per UTC day: naming, schema, connections and the checks that make a broken
file a clear error.

Files are `events-YYYY-MM-DD.db` (plus SQLite's -wal/-shm). A file per day, rather than a
table per day in one file, lets retention give disk space back at once (unlink, no VACUUM)
and confines a corrupt file to one day.

Schema of a partition:
    events(id INTEGER PRIMARY KEY, ts, <hot columns>, message, irregular, doc BLOB)
    events_fts: FTS5 on `message`, external content (the text lives once, in `events`),
                filled per batch by FTS_FILL_SQL from the rows that batch really inserted
                (one INSERT ... SELECT is twice as fast as a per-row trigger)
    UNIQUE index on event_id: a batch written twice (a spool replay after a crash) is stored
    once (INSERT OR IGNORE).
    Block indexes on the pivots of an investigation (source.ip, destination.ip, user.name):
    keyed (id >> BLOCK_SHIFT, value, ts), see BLOCK_INDEXED below.
"""
from __future__ import annotations

import os
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from core.errors import StoreError
from storage.sqlite_rows import HOT_FIELDS

EPOCH_DATE = date(1970, 1, 1)
FILE_PATTERN = re.compile(r"^events-(\d{4}-\d{2}-\d{2})\.db$")
SQLITE_HEADER = b"SQLite format 3\x00"
USER_VERSION_OFFSET = 60      # PRAGMA user_version, big-endian, in the file header
SCHEMA_VERSION = 3
PAGE_SIZE = 16384
FTS_AUTOMERGE = 16
WAL_CHECKPOINT_BYTES = 40 << 20

_HOT_COLUMNS_SQL = ", ".join(f"{column} TEXT" for column, _ in HOT_FIELDS)

# High-cardinality columns searched by value. A plain (value, ts) index receives every insert
# at a random place: at a million rows each 2,000-event batch dirtied ~2,000 index pages, and
# writing them back made that one index cost more than everything else together (31k -> 81k
# events/s without it, bench/store.py). Keyed by the block of 4,096 consecutive rows first,
# a batch only touches the few pages of the current block (77k events/s with it). A search
# seeks once per block (storage/sqlite_query.py): ~250 seeks for a million rows.
BLOCK_SHIFT = 12
BLOCK_INDEXED = ("source_ip", "destination_ip", "user_name")
# Partial: most events lack one of these fields (no user in an access log, no destination in
# an auth line), and an entry per NULL would cost as much as a real one. A search names a
# value, which tells SQLite the partial index holds every row it can match.
_BLOCK_INDEXES_SQL = "\n".join(
    f"CREATE INDEX IF NOT EXISTS events_{column}_block ON events((id >> {BLOCK_SHIFT}), "
    f"{column}, ts) WHERE {column} IS NOT NULL;" for column in BLOCK_INDEXED)
SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    {_HOT_COLUMNS_SQL},
    message TEXT,
    irregular INTEGER NOT NULL DEFAULT 0,
    doc BLOB NOT NULL
);
-- Indexes cost write throughput (each is ~1-3 us per event): only the selective, most
-- searched fields get one; other hot columns (kind, host_name, ...) are read from the row
-- while walking the time index, still without parsing JSON.
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events(event_id);
CREATE INDEX IF NOT EXISTS events_dataset_ts ON events(dataset, ts);
{_BLOCK_INDEXES_SQL}
-- rows whose hot fields are not plain strings (rare): searched through their JSON document
CREATE INDEX IF NOT EXISTS events_irregular ON events(id) WHERE irregular;
-- schema 1 indexed source_ip by (value, ts), which the block index replaces
DROP INDEX IF EXISTS events_source_ip_ts;
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    message, content='events', content_rowid='id', columnsize=0
);
-- Each batch's commit adds an FTS segment; by default FTS5 merges every 4 segments of a
-- level, rewriting each term ~log4(rows/batch) times. Merging 16 at a time writes the index
-- half as often (store alone, 2M events: 27.8 -> 25.2 s CPU), at the price of searches
-- reading up to 15 segments per level.
INSERT INTO events_fts(events_fts, rank) VALUES ('automerge', {FTS_AUTOMERGE});
PRAGMA user_version = {SCHEMA_VERSION};
"""

_INSERT_COLUMNS = ["ts", *(column for column, _ in HOT_FIELDS), "message", "irregular", "doc"]
INSERT_SQL = (f"INSERT OR IGNORE INTO events ({', '.join(_INSERT_COLUMNS)}) "
              f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})")

LAST_ID_SQL = "SELECT coalesce(max(id), 0) FROM events"
# Rows a batch inserted have ids above the max id before it (INTEGER PRIMARY KEY without
# AUTOINCREMENT allocates max+1); duplicates skipped by OR IGNORE are therefore not indexed.
FTS_FILL_SQL = ("INSERT INTO events_fts(rowid, message) SELECT id, message FROM events "
                "WHERE id > ? AND message IS NOT NULL")


def day_name(day: int) -> str:
    return (EPOCH_DATE + timedelta(days=day)).isoformat()


def partition_path(directory: Path, day: int) -> Path:
    return directory / f"events-{day_name(day)}.db"


def list_partitions(directory: Path) -> dict[int, Path]:
    """Day number -> file, for every partition file in `directory`."""
    found: dict[int, Path] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise StoreError(f"cannot list the store directory {directory}: {exc.strerror}") from None
    for name in names:
        match = FILE_PATTERN.match(name)
        if match:
            day = (date.fromisoformat(match.group(1)) - EPOCH_DATE).days
            found[day] = directory / name
    return found


def corrupt_error(path: Path, exc: BaseException) -> StoreError:
    return StoreError(
        f"store partition {path} is not a readable SQLite database ({exc}); move it aside "
        f"(the other days are unaffected) or restore it from a backup")


def check_header(path: Path) -> int:
    """Cheap early check that a partition file is SQLite at all; returns the schema version
    it was last written with, from the header (0: empty or new file). A schema change still
    in the WAL after a crash reads as the older version: upgrading again is harmless."""
    try:
        with path.open("rb") as stream:
            header = stream.read(USER_VERSION_OFFSET + 4)
    except OSError as exc:
        raise StoreError(f"cannot read store partition {path}: {exc.strerror}") from None
    if not header:
        return 0
    if not header.startswith(SQLITE_HEADER):
        raise corrupt_error(path, ValueError("bad file header"))
    return int.from_bytes(header[USER_VERSION_OFFSET:USER_VERSION_OFFSET + 4], "big")


def open_writer(path: Path, synchronous: str, cache_mib: int) -> sqlite3.Connection:
    """A connection that creates the partition if needed; used by the writer thread only."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store partition {path}: {exc}") from None
    try:
        # Only effective while the file is new (before WAL and the schema): bigger pages
        # suit ~1 KiB rows and halve the b-tree work per byte.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL + synchronous=NORMAL: a commit is not fsynced, the WAL is fsynced at each
        # checkpoint. An application crash loses nothing; only an OS crash or power cut can
        # undo the last commits since the checkpoint, and the file is never corrupted. FULL
        # would fsync on every 2,000-event batch; `synchronous: full` is there for sites that
        # need that guarantee and accept the cost.
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint every ~40 MB of WAL instead of ~4 MB: fewer, larger copies back into the
        # database (+15% write throughput measured); the WAL is truncated back afterwards.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // PAGE_SIZE}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_BYTES}")
        conn.executescript(SCHEMA_SQL)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            raise StoreError(f"disk full creating store partition {path}: {exc}") from None
        raise corrupt_error(path, exc) from None
    return conn


def open_reader(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise corrupt_error(path, exc) from None
    return conn


def remove_partition(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
