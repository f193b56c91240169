"""The order ledger: every event is on disk before anyone is told about it, and only once.

SQLite in WAL mode, one connection owned by this object and serialised by a lock (sources call
`record` from their own threads). `synchronous=NORMAL` in WAL mode survives a killed process at
any moment; after a power cut the last transactions may be rolled back, but the resume cursors
live in the same database and roll back with them, so the server sends those events again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from notifier.core.events import MAX_RAW_CHARS, OrderEvent, OrderKind

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# A customer pressing "remind" twice within this window is one reminder, not two.
REMINDER_WINDOW_S = 60.0
CACHE_KIB = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    order_number TEXT,
    amount TEXT,
    currency TEXT NOT NULL,
    customer TEXT,
    text TEXT,
    occurred_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    source TEXT NOT NULL,
    server TEXT NOT NULL,
    event_id TEXT,
    raw TEXT NOT NULL,
    acknowledged_at REAL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE INDEX IF NOT EXISTS events_order ON events(source, server, order_id);
CREATE INDEX IF NOT EXISTS events_unacked ON events(received_at) WHERE acknowledged_at IS NULL;
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

_COLUMNS = (
    "id, key, kind, order_id, order_number, amount, currency, customer, text, occurred_at, "
    "received_at, source, server, event_id, raw, acknowledged_at"
)


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    event: OrderEvent
    received_at: float
    acknowledged_at: float | None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


def _row_to_entry(row: tuple) -> LedgerEntry:
    (id_, _key, kind, order_id, number, amount, currency, customer, text, occurred_at,
     received_at, source, server, event_id, raw, acked) = row
    try:
        kind_value = OrderKind(kind)
    except ValueError:
        kind_value = OrderKind.NEW_ORDER
    event = OrderEvent(
        kind=kind_value,
        order_id=order_id,
        source=source,
        server=server,
        order_number=number,
        amount=Decimal(amount) if amount is not None else None,
        currency=currency,
        customer=customer,
        text=text,
        occurred_at=datetime.fromisoformat(occurred_at),
        event_id=event_id,
        raw=raw,
    )
    return LedgerEntry(id_, event, received_at, acked)


class Ledger:
    def __init__(self, path: Path | str, *, clock=time.time):
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            # A small page cache: writes touch a few dozen pages and the window reads at most a
            # few hundred, which the OS keeps cached anyway. SQLite's default (2 MB) would make
            # the app's memory creep up for days as the history grows into it.
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:  # OSError: the folder cannot be made
            raise LedgerError(f"cannot open the order history {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------

    def record(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False
    ) -> bool:
        """Store `event`; True if it is new. `cursor` (name, value) is saved in the same
        transaction, so a resume position never runs ahead of what is on disk.

        `durable` also survives a power cut (the WAL is synced before returning): for sources
        that acknowledge upstream, after which nobody would send the event again.
        """
        return self.record_many([event], cursor, durable=durable)[0]

    def record_many(
        self,
        events: Iterable[OrderEvent],
        cursor: tuple[str, str] | None = None,
        *,
        durable: bool = False,
    ) -> list[bool]:
        now = self._clock()
        results: list[bool] = []
        with self._lock:
            try:
                if durable:
                    self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN IMMEDIATE")
                for event in events:
                    results.append(self._insert(event, now))
                if cursor is not None:
                    self._db.execute(
                        "INSERT INTO cursors(name, value, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                        (cursor[0], cursor[1], now),
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise LedgerError(f"cannot write the order history: {exc}") from exc
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")
        return results

    def _insert(self, event: OrderEvent, now: float) -> bool:
        # Merge a customer's repeated presses even when each press has its own server event id.
        if event.kind is OrderKind.REMINDER and self._db.execute(
            "SELECT 1 FROM events WHERE kind=? AND source=? AND server=? AND order_id=? "
            "AND received_at > ? LIMIT 1",
            (event.kind.value, event.source, event.server, event.order_id, now - REMINDER_WINDOW_S),
        ).fetchone():
            return False
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events(key, kind, order_id, order_number, amount, currency, "
            "customer, text, occurred_at, received_at, source, server, event_id, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.key,
                event.kind.value,
                event.order_id,
                event.order_number,
                str(event.amount) if event.amount is not None else None,
                event.currency,
                event.customer,
                event.text,
                event.occurred_at.isoformat(),
                now,
                event.source,
                event.server,
                event.event_id,
                event.raw[:MAX_RAW_CHARS],
            ),
        )
        return cursor.rowcount == 1

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _write(self, sql: str, params: tuple = ()) -> int:
        with self._lock:
            try:
                return self._db.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot write the order history: {exc}") from exc

    def set_cursor(self, name: str, value: str) -> None:
        self._write(
            "INSERT INTO cursors(name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (name, value, self._clock()),
        )

    def acknowledge(self, entry_ids: Iterable[int]) -> int:
        """Acknowledge the orders of these entries (all their events: order and reminders)."""
        ids = list(entry_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        return self._write(
            "UPDATE events SET acknowledged_at=? WHERE acknowledged_at IS NULL AND "
            f"(source, server, order_id) IN (SELECT source, server, order_id FROM events WHERE id IN ({marks}))",
            (self._clock(), *ids),
        )

    def acknowledge_all(self) -> int:
        return self._write(
            "UPDATE events SET acknowledged_at=? WHERE acknowledged_at IS NULL", (self._clock(),)
        )

    def expire(self, retention_days: float) -> int:
        """Forget entries older than the retention period; returns how many went."""
        cutoff = self._clock() - retention_days * 86400
        removed = self._write("DELETE FROM events WHERE received_at < ?", (cutoff,))
        if removed:
            log.info("expired %d old entries from the order history", removed)
        return removed

    # -- reading -------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def cursor(self, name: str) -> str | None:
        rows = self._query("SELECT value FROM cursors WHERE name=?", (name,))
        return rows[0][0] if rows else None

    def get(self, entry_id: int) -> LedgerEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM events WHERE id=?", (entry_id,))
        return _row_to_entry(rows[0]) if rows else None

    def recent(
        self,
        limit: int = 500,
        *,
        since: float | None = None,
        unacknowledged_only: bool = False,
        search: str = "",
    ) -> list[LedgerEntry]:
        where, params = ["1=1"], []
        if since is not None:
            where.append("received_at >= ?")
            params.append(since)
        if unacknowledged_only:
            where.append("acknowledged_at IS NULL")
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(order_id LIKE ? ESCAPE '\\' OR order_number LIKE ? ESCAPE '\\' OR "
                "customer LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\')"
            )
            params.extend([like] * 4)
        rows = self._query(
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_row_to_entry(row) for row in rows]

    def unacknowledged(self) -> list[LedgerEntry]:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM events WHERE acknowledged_at IS NULL ORDER BY id"
        )
        return [_row_to_entry(row) for row in rows]

    def find(self, key: str) -> LedgerEntry | None:
        """The entry stored under this event key (what a notification click names)."""
        rows = self._query(f"SELECT {_COLUMNS} FROM events WHERE key=?", (key,))
        return _row_to_entry(rows[0]) if rows else None

    def order(self, source: str, server: str, order_id: str) -> OrderEvent | None:
        """The new-order event of this order, if the ledger has it."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM events WHERE source=? AND server=? AND order_id=? "
            "AND kind='new_order' ORDER BY id DESC LIMIT 1",
            (source, server, order_id),
        )
        return _row_to_entry(rows[0]).event if rows else None

    def unacknowledged_among(self, keys: Iterable[str]) -> set[str]:
        """Which of these event keys still wait for someone. Cost follows `keys`, not the
        history: a shop that never acknowledges anything must not make each check slower."""
        keys = list(keys)
        waiting: set[str] = set()
        for start in range(0, len(keys), 500):  # stay far below SQLite's bound-variable limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            waiting.update(row[0] for row in self._query(
                f"SELECT key FROM events WHERE acknowledged_at IS NULL AND key IN ({marks})", tuple(chunk)))
        return waiting

    def unacknowledged_orders(self) -> int:
        """How many orders (not events) wait for someone: the number on the tray icon."""
        return self._query(
            "SELECT COUNT(*) FROM (SELECT DISTINCT source, server, order_id FROM events "
            "WHERE acknowledged_at IS NULL)"
        )[0][0]

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM events")[0][0]

    def is_acknowledged(self, event: OrderEvent) -> bool:
        rows = self._query(
            "SELECT COUNT(*) FROM events WHERE source=? AND server=? AND order_id=? "
            "AND acknowledged_at IS NULL",
            (event.source, event.server, event.order_id),
        )
        return rows[0][0] == 0

    def per_hour(self, day_start: float) -> list[int]:
        """New orders in each of the 24 hours from `day_start` (local midnight, epoch s)."""
        counts = [0] * 24
        for hour, n in self._query(
            "SELECT CAST((received_at - ?) / 3600 AS INTEGER) AS h, COUNT(*) FROM events "
            "WHERE kind='new_order' AND received_at >= ? AND received_at < ? GROUP BY h",
            (day_start, day_start, day_start + 86400),
        ):
            if 0 <= hour < 24:
                counts[hour] = n
        return counts

    def known_order_ids(self, source: str, server: str, order_ids: Iterable[str]) -> set[str]:
        ids = list(order_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT order_id FROM events WHERE kind='new_order' AND source=? AND server=? "
            f"AND order_id IN ({marks})",
            (source, server, *ids),
        )
        return {row[0] for row in rows}
