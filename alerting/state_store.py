"""Alerting state in one SQLite file (`<data_dir>/<state_path>/alerts.db`, WAL).

Tables: alerts (one row per fingerprint), silences, outbox (notifications to send),
sent_log (the notification log: ids that were delivered), group_log (what each group last
sent to each receiver) and escalations (tracked alerts and the level reached).

Delivery contract (a restart neither loses nor repeats a notification):
- `add_notifications` writes each notification to the outbox together with the group log
  entry that decided it, in one transaction, *before* anything is sent;
- `mark_sent` marks the outbox row sent and inserts its id into sent_log in one transaction,
  right after the receiver returned;
- at start, outbox rows still pending are sent again, except those whose id is in sent_log.
  A crash between the receiver's return and `mark_sent` is the one window where a
  notification can go out twice; receivers get the same notification_id both times so the
  far end can deduplicate.

Calls are synchronous and short (one small transaction); synchronous=NORMAL in WAL mode
survives a crash of the process, which is what a restart is.
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import orjson

from alerting.dispatch import GroupLogEntry
from alerting.escalation import Tracked
from alerting.model import Alert, AlertState, Notification
from alerting.silences import Silence

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (fingerprint TEXT PRIMARY KEY, active INTEGER NOT NULL,
    updated_at REAL NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_active ON alerts(active);
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (notification_id TEXT PRIMARY KEY, receiver TEXT NOT NULL,
    created_at REAL NOT NULL, origin_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL, status TEXT NOT NULL, last_error TEXT, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status);
CREATE TABLE IF NOT EXISTS sent_log (notification_id TEXT PRIMARY KEY, receiver TEXT NOT NULL,
    sent_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS group_log (group_key TEXT NOT NULL, receiver TEXT NOT NULL,
    firing TEXT NOT NULL, resolved TEXT NOT NULL, sent_at REAL NOT NULL,
    PRIMARY KEY (group_key, receiver));
CREATE TABLE IF NOT EXISTS escalations (fingerprint TEXT PRIMARY KEY, policy TEXT NOT NULL,
    started_at REAL NOT NULL, level INTEGER NOT NULL);
"""


def alert_to_dict(alert: Alert) -> dict:
    data = asdict(alert)
    data["state"] = alert.state.value
    return data


def alert_from_dict(data: dict) -> Alert:
    data = dict(data)
    data["state"] = AlertState(data["state"])
    return Alert(**data)


def notification_to_dict(notification: Notification) -> dict:
    data = asdict(notification)
    data["alerts"] = [alert_to_dict(a) for a in notification.alerts]
    return data


def notification_from_dict(data: dict) -> Notification:
    data = dict(data)
    data["alerts"] = [alert_from_dict(a) for a in data["alerts"]]
    return Notification(**data)


class OutboxEntry:
    __slots__ = ("notification", "origin_at", "attempts", "next_attempt_at")

    def __init__(self, notification: Notification, origin_at: float, attempts: int = 0,
                 next_attempt_at: float = 0.0):
        self.notification = notification
        self.origin_at = origin_at
        self.attempts = attempts
        self.next_attempt_at = next_attempt_at


class StateStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def _tx(self):
        return _Transaction(self.conn)

    # -- alerts ----------------------------------------------------------------------------
    def save_alerts(self, alerts: Iterable[Alert]) -> None:
        rows = [(a.fingerprint, int(a.ends_at is None), a.updated_at,
                 orjson.dumps(alert_to_dict(a))) for a in alerts]
        if rows:
            with self._tx():
                self.conn.executemany("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)", rows)

    def load_alerts(self, *, since: float) -> list[Alert]:
        """Active alerts, and resolved ones updated at or after `since`."""
        rows = self.conn.execute("SELECT doc FROM alerts WHERE active = 1 OR updated_at >= ?",
                                 (since,))
        return [alert_from_dict(orjson.loads(doc)) for (doc,) in rows]

    # -- silences --------------------------------------------------------------------------
    def save_silence(self, silence: Silence) -> None:
        with self._tx():
            self.conn.execute("INSERT OR REPLACE INTO silences VALUES (?, ?)",
                              (silence.id, orjson.dumps(silence.to_dict())))

    def load_silences(self) -> list[Silence]:
        return [Silence.from_dict(orjson.loads(doc))
                for (doc,) in self.conn.execute("SELECT doc FROM silences")]

    # -- notifications ---------------------------------------------------------------------
    def add_notifications(self, entries: list[OutboxEntry],
                          group_log: list[tuple[str, str, GroupLogEntry]],
                          escalations: Iterable[Tracked] = ()) -> None:
        with self._tx():
            self.conn.executemany(
                "INSERT OR IGNORE INTO outbox (notification_id, receiver, created_at, origin_at,"
                " attempts, next_attempt_at, status, doc) VALUES (?, ?, ?, ?, 0, ?, 'pending', ?)",
                [(e.notification.notification_id, e.notification.receiver, e.next_attempt_at,
                  e.origin_at, e.next_attempt_at,
                  orjson.dumps(notification_to_dict(e.notification))) for e in entries])
            self.conn.executemany(
                "INSERT OR REPLACE INTO group_log VALUES (?, ?, ?, ?, ?)",
                [(key, receiver, ",".join(sorted(entry.firing)),
                  ",".join(sorted(entry.resolved)), entry.sent_at)
                 for key, receiver, entry in group_log])
            self.save_escalations(escalations, in_tx=True)

    def pending(self) -> list[OutboxEntry]:
        rows = self.conn.execute(
            "SELECT doc, origin_at, attempts, next_attempt_at FROM outbox "
            "WHERE status = 'pending' ORDER BY created_at")
        return [OutboxEntry(notification_from_dict(orjson.loads(doc)), origin, attempts, at)
                for doc, origin, attempts, at in rows]

    def was_sent(self, notification_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sent_log WHERE notification_id = ?",
                                 (notification_id,)).fetchone() is not None

    def mark_sent(self, notification_id: str, receiver: str, at: float) -> None:
        with self._tx():
            self.conn.execute("UPDATE outbox SET status = 'sent' WHERE notification_id = ?",
                              (notification_id,))
            self.conn.execute("INSERT OR IGNORE INTO sent_log VALUES (?, ?, ?)",
                              (notification_id, receiver, at))

    def mark_attempt(self, notification_id: str, attempts: int, next_attempt_at: float,
                     error: str, *, failed: bool) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, status = ?"
                " WHERE notification_id = ?",
                (attempts, next_attempt_at, error[:500], "failed" if failed else "pending",
                 notification_id))

    def outbox_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))

    def load_group_log(self) -> dict[tuple[str, str], GroupLogEntry]:
        split = lambda text: frozenset(text.split(",")) if text else frozenset()  # noqa: E731
        return {(key, receiver): GroupLogEntry(split(firing), split(resolved), sent_at)
                for key, receiver, firing, resolved, sent_at in self.conn.execute(
                    "SELECT group_key, receiver, firing, resolved, sent_at FROM group_log")}

    # -- escalation ------------------------------------------------------------------------
    def save_escalations(self, tracked: Iterable[Tracked], *, in_tx: bool = False) -> None:
        rows = [(t.fingerprint, t.policy, t.started_at, t.level) for t in tracked]
        if not rows:
            return
        if in_tx:
            self.conn.executemany("INSERT OR REPLACE INTO escalations VALUES (?, ?, ?, ?)", rows)
        else:
            with self._tx():
                self.conn.executemany("INSERT OR REPLACE INTO escalations VALUES (?, ?, ?, ?)",
                                      rows)

    def drop_escalations(self, fingerprints: Iterable[str]) -> None:
        rows = [(fp,) for fp in fingerprints]
        if rows:
            with self._tx():
                self.conn.executemany("DELETE FROM escalations WHERE fingerprint = ?", rows)

    def load_escalations(self) -> list[Tracked]:
        return [Tracked(fp, policy, started, level) for fp, policy, started, level in
                self.conn.execute("SELECT fingerprint, policy, started_at, level "
                                  "FROM escalations")]


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
