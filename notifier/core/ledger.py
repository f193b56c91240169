"""The order ledger: every event is on disk before anyone is told about it, and only once.

SQLite in WAL mode, one connection owned by this object and serialised by a lock (sources call
`record` from their own threads). `synchronous=NORMAL` in WAL mode survives a killed process at
any moment; after a power cut the last transactions may be rolled back, but the resume cursors
live in the same database and roll back with them, so the server sends those events again.

Storing an order and telling someone about it are two steps, and a crash can fall between them.
So each event also records when it was *told* (`told_at`, NULL until then): whoever tells
(the listener's line, the alert centre's popup and voice line) calls `mark_told` afterwards, and
at start-up `untold()` lists what a crash left stored but never told. A mark is first one line
appended to a small "told log" next to the ledger (a few microseconds: the window in which a
kill makes us tell an order twice), then one short commit (no fsync) per batch of orders told,
handed to a background thread whenever the ledger is busy: telling never waits for the disk.
The next start applies whatever the log holds. The order of the two steps is the whole point: a
mark is written only after the telling, so a crash can lose a mark (the order is told again,
once, at the next start) but never record a telling that did not happen.

Checkpoints (copying the WAL back into the database, with an fsync) used to run inside whichever
commit crossed SQLite's 1,000-page mark: a 5-25 ms pause on one order in every ~200. Automatic
checkpoints are off; a background thread with its own connection runs a passive checkpoint after
every `CHECKPOINT_EVERY` commits and when writes go quiet, never holding the writers' lock.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from notifier.core import ledger_schema
from notifier.core.events import MAX_RAW_CHARS, OrderEvent, OrderKind
from notifier.core.ledger_background import (  # noqa: F401 - the tuning lives with the threads
    CHECKPOINT_EVERY,
    CHECKPOINT_IDLE_S,
    WAL_LIMIT_BYTES,
    Checkpointer,
    ToldMarkWriter,
)
from notifier.core.order_details import NO_DETAILS, OrderDetails
from notifier.core.order_state import RANK, STATE_SQL, state_of
from notifier.core.sqlite_file import open_wal

log = logging.getLogger(__name__)

# The file's tables, triggers and numbered migrations: ledger_schema (re-exported for callers).
SCHEMA_VERSION = ledger_schema.SCHEMA_VERSION
# A customer pressing "remind" twice within this window is one reminder, not two.
REMINDER_WINDOW_S = 60.0
CACHE_KIB = 512
# The told log (see `mark_told`) is emptied once it holds this much and its marks are committed.
TOLD_LOG_LIMIT_BYTES = 64 * 1024

# Every column an entry is read from (`read_entry`, `entry_from_row`), in that order.
ENTRY_COLUMNS = (
    "id, key, kind, order_id, order_number, amount, currency, customer, text, occurred_at, "
    "received_at, source, server, event_id, raw, acknowledged_at, ended_how, ended_at, end_reason, "
    "details, details_due, progress, connection, connection_id"
)


# What one order is known by: the same order id from another connection (a second branch on the
# same server, a second queue on the same broker) is another order. Every by-order lookup matches
# all four; `connection_id` is the connection's scope (events.OrderEvent.connection_id), "" for
# the connection a single-connection settings file was upgraded to and its history.
ORDER_COLUMNS = "source, server, order_id, connection_id"
ORDER_IS = "source=? AND server=? AND order_id=? AND connection_id=?"


class Ending:
    """How an alert ended (`events.ended_how`): who or what stopped it ringing."""

    ACCEPTED_HERE = "accepted_here"
    REJECTED_HERE = "rejected_here"
    ACCEPTED_ELSEWHERE = "accepted_elsewhere"
    REJECTED_ELSEWHERE = "rejected_elsewhere"
    CANCELLED = "cancelled"  # by the customer (or the back end), before or after an accept
    ACKNOWLEDGED = "acknowledged"  # silenced here only; the back end was not told anything

    ALL = (ACCEPTED_HERE, REJECTED_HERE, ACCEPTED_ELSEWHERE, REJECTED_ELSEWHERE, CANCELLED,
           ACKNOWLEDGED)


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    event: OrderEvent
    received_at: float
    acknowledged_at: float | None
    ended_how: str | None = None  # an `Ending` value; None while it rings (or from before v3)
    ended_at: float | None = None
    end_reason: str | None = None  # the reject reason, or why the back end refused an action
    progress: str | None = None  # how far it got after 接单 (order_state: delivering, ...)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def state(self) -> str:
        """Where the order is in its life (an `order_state` value)."""
        return state_of(self.ended_how, self.progress)


def entry_from_row(row: tuple) -> LedgerEntry:
    """An entry from a row of `SELECT {ENTRY_COLUMNS} FROM events`."""
    (id_, _key, kind, order_id, number, amount, currency, customer, text, occurred_at,
     received_at, source, server, event_id, raw, acked, ended_how, ended_at, end_reason,
     details, details_due, progress, connection, connection_id) = row
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
        details=_details_from_column(details),
        details_due=details_due,
        connection=connection,
        connection_id=connection_id,
    )
    return LedgerEntry(id_, event, received_at, acked, ended_how, ended_at, end_reason, progress)


def read_entry(db: sqlite3.Connection, entry_id: int) -> LedgerEntry | None:
    """One entry read on another connection to the ledger's file (the print queue's)."""
    row = db.execute(f"SELECT {ENTRY_COLUMNS} FROM events WHERE id=?", (entry_id,)).fetchone()
    return entry_from_row(row) if row else None


def _details_from_column(text: str | None) -> OrderDetails:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    return OrderDetails.from_json_dict(value) if isinstance(value, dict) else NO_DETAILS


def _details_column(details: OrderDetails) -> str | None:
    """The `details` column's value: the details as JSON, NULL when there are none."""
    return json.dumps(details.to_json_dict(), ensure_ascii=False) if details else None


class Ledger:
    def __init__(self, path: Path | str, *, clock=time.time):
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_wal(self.path, busy_timeout_ms=5000)
            # A small page cache: writes touch a few dozen pages and the window reads at most a
            # few hundred, which the OS keeps cached anyway. SQLite's default (2 MB) would make
            # the app's memory creep up for days as the history grows into it.
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # see the module docstring
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            ledger_schema.migrate(self._db)
        except (sqlite3.Error, OSError) as exc:  # OSError: the folder cannot be made
            raise LedgerError(f"cannot open the order history {self.path}: {exc}") from exc
        self._told = ToldMarkWriter(self._write_told_later)
        self._checkpoints = Checkpointer(self.path)
        self._told_log_path = self.path.with_name(self.path.name + "-told")
        self._apply_told_log()
        try:
            self._told_log: int | None = os.open(
                self._told_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:  # then a crash right after a telling may tell that order twice
            log.warning("no told log %s: %s", self._told_log_path, exc)
            self._told_log = None
        self._told_log_bytes = 0

    def _apply_told_log(self) -> None:
        """Marks the last run logged but may not have committed (killed in between)."""
        try:
            text = self._told_log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read the told log %s: %s", self._told_log_path, exc)
            return
        keys = []
        for line in text.splitlines():
            try:
                keys.append(json.loads(line))
            except ValueError:
                pass  # a line cut short by the crash: that order is told again, as it should be
        if keys and not self._write_told([k for k in keys if isinstance(k, str)]):
            return  # keep the log for the next start
        self._told_log_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Write the told marks still queued, stop the background threads, close the file."""
        self._told.stop()
        self._checkpoints.stop()
        with self._lock:
            self._db.close()
            if self._told_log is not None:
                os.close(self._told_log)
                self._told_log = None
                # Every mark is committed now; a leftover would only be applied again next time.
                self._told_log_path.unlink(missing_ok=True)

    # -- writing -------------------------------------------------------------------------

    def record(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False,
        upkeep_later: bool = False,
    ) -> bool:
        """Store `event`; True if it is new. `cursor` (name, value) is saved in the same
        transaction, so a resume position never runs ahead of what is on disk.

        `durable` also survives a power cut (the WAL is synced before returning): for sources
        that acknowledge upstream, after which nobody would send the event again.

        `upkeep_later`: the caller calls `upkeep()` once it has told whoever waits for the event
        (the intake, after the popup): starting the checkpoint thread, after a quiet spell, costs
        a thread start and a hand-over of the interpreter, which the popup should not wait for.
        """
        return self.record_many([event], cursor, durable=durable, upkeep_later=upkeep_later)[0]

    def record_many(
        self,
        events: Iterable[OrderEvent],
        cursor: tuple[str, str] | None = None,
        *,
        durable: bool = False,
        upkeep_later: bool = False,
    ) -> list[bool]:
        now = self._clock()
        results: list[bool] = []
        events = list(events)
        if len(events) == 1 and cursor is None and not durable and events[0].kind is not OrderKind.REMINDER:
            # One order alone: its INSERT is a transaction by itself (autocommit, its triggers
            # inside it), one statement where BEGIN / INSERT / COMMIT were three (~0.05 ms of
            # the order's way to its popup).
            with self._lock:
                try:
                    results.append(self._insert(events[0], now))
                except sqlite3.Error as exc:  # the statement's own transaction is rolled back
                    raise LedgerError(f"cannot write the order history: {exc}") from exc
            self._checkpoints.written(start=not upkeep_later)
            return results
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
        self._checkpoints.written(start=not upkeep_later)
        return results

    def upkeep(self) -> None:
        """Start the background work the last `record(..., upkeep_later=True)` left for now."""
        self._checkpoints.start_pending()

    def release_memory(self) -> bool:
        """Give back the page cache a burst filled (the app calls this once orders pause; the
        next order reads its few pages from the OS's cache again, ~0.01 ms). Never waits: when
        a source is writing (orders again), it gives up and says False."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._db.execute("PRAGMA shrink_memory")
            return True
        except sqlite3.Error as exc:  # a closed or broken file: nothing to give back
            log.debug("could not shrink the ledger's cache: %s", exc)
            return False
        finally:
            self._lock.release()

    def _committed(self) -> None:
        self._checkpoints.written()

    def _insert(self, event: OrderEvent, now: float) -> bool:
        # Merge a customer's repeated presses even when each press has its own server event id.
        if event.kind is OrderKind.REMINDER and self._db.execute(
            "SELECT 1 FROM events WHERE kind=? AND source=? AND server=? AND order_id=? "
            "AND connection_id=? AND received_at > ? LIMIT 1",
            (event.kind.value, event.source, event.server, event.order_id, event.connection_id,
             now - REMINDER_WINDOW_S),
        ).fetchone():
            return False
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events(key, kind, order_id, order_number, amount, currency, "
            "customer, text, occurred_at, received_at, source, server, event_id, raw, details, "
            "details_due, connection, connection_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                _details_column(event.details),
                event.details_due,
                event.connection,
                event.connection_id,
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
                count = self._db.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot write the order history: {exc}") from exc
        self._committed()
        return count

    def mark_told(self, keys: Iterable[str]) -> None:
        """These events have been told (line printed, popup shown and voice line queued). Call it
        only *after* the telling.

        First the keys are appended to the told log next to the ledger, one `write` of a few
        microseconds: from then on a kill cannot make us tell them again (the next start applies
        the log). Then one short commit for all of them, on the caller's thread when the ledger
        is free: no fsync (synchronous=NORMAL, and checkpoints are in the background), a fraction
        of a millisecond. When a source is writing (a durable record may be waiting for the
        disk) the commit goes to a background writer instead, so the Qt main thread never waits
        for the disk. The log has no fsync either: a power cut may lose marks, which means
        telling those orders twice, never zero times."""
        keys = list(keys)
        if not keys:
            return
        self._log_told(keys)
        if self._lock.acquire(blocking=False):
            try:
                written = self._write_told(keys)
                if written:
                    self._trim_told_log()
            finally:
                self._lock.release()
            if written:
                self._committed()
                return
        self._told.add(keys)

    def _log_told(self, keys: list[str]) -> None:
        fd = self._told_log
        if fd is None:
            return
        data = "".join(json.dumps(key, ensure_ascii=False) + "\n" for key in keys).encode("utf-8")
        try:
            self._told_log_bytes += os.write(fd, data)
        except OSError as exc:
            log.warning("cannot append to the told log: %s", exc)

    def _trim_told_log(self, *, writer: bool = False) -> None:
        """With the lock held, after a commit: empty the log once it is big and nothing logged
        waits for the background writer (`writer`: this is its commit). (Another thread logging
        at this very moment may lose its line: that order would be told twice after a crash,
        not lost.)"""
        if self._told_log is None or self._told_log_bytes < TOLD_LOG_LIMIT_BYTES:
            return
        if self._told.busy(counting_own_write=not writer):
            return
        try:
            os.ftruncate(self._told_log, 0)
            self._told_log_bytes = 0
        except OSError as exc:
            log.warning("cannot empty the told log: %s", exc)

    def flush_told(self, timeout: float = 5.0) -> bool:
        """Wait until every told mark queued so far is written (tests, shutdown)."""
        return self._told.flush(timeout)

    def _write_told(self, keys: list[str]) -> bool:
        """With the lock held: one transaction for these told marks; False if it failed."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE events SET told_at=? WHERE key=? AND told_at IS NULL",
                ((self._clock(), key) for key in keys))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            # A lost mark means one more telling at the next start, not a lost order.
            log.warning("could not record %d orders as told: %s", len(keys), exc)
            return False
        return True

    def _write_told_later(self, keys: list[str]) -> None:
        """The background writer's way in: waits for the lock."""
        with self._lock:
            written = self._write_told(keys)
            if written:
                self._trim_told_log(writer=True)
        if written:
            self._committed()

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
        now = self._clock()
        return self._write(
            "UPDATE events SET acknowledged_at=?, ended_how=COALESCE(ended_how, ?), "
            "ended_at=COALESCE(ended_at, ?) WHERE acknowledged_at IS NULL AND "
            f"({ORDER_COLUMNS}) IN (SELECT {ORDER_COLUMNS} FROM events WHERE id IN ({marks}))",
            (now, Ending.ACKNOWLEDGED, now, *ids),
        )

    def acknowledge_all(self) -> int:
        now = self._clock()
        return self._write(
            "UPDATE events SET acknowledged_at=?, ended_how=COALESCE(ended_how, ?), "
            "ended_at=COALESCE(ended_at, ?) WHERE acknowledged_at IS NULL",
            (now, Ending.ACKNOWLEDGED, now))

    def end_order(self, source: str, server: str, order_id: str, how: str,
                  reason: str | None = None, *, connection_id: str) -> int:
        """The order's alert ended because of `how` (an `Ending`), e.g. another PC accepted it or
        the customer cancelled it: every event of the order stops ringing. Returns how many events
        learned something new (0: nothing changed, so nobody needs telling again): the ones still
        ringing, the ones only acknowledged here (the news replaces "acknowledged only"), and for
        a cancellation also the ones accepted here or elsewhere (a kitchen may be cooking it).
        A cancellation of an order the shop rejected is none: platforms cancel (refund) a
        rejected order, and that echo is not the customer's doing.

        `connection_id`: the connection the order came through (`OrderEvent.connection_id`): the
        same order id on another connection (a second branch on the same server) is another
        order and keeps ringing."""
        if how not in Ending.ALL:
            raise ValueError(f"unknown ending {how!r}")
        news = [Ending.ACKNOWLEDGED]
        if how == Ending.CANCELLED:
            news += [Ending.ACCEPTED_HERE, Ending.ACCEPTED_ELSEWHERE]
        marks = ",".join("?" * len(news))
        now = self._clock()
        order = (source, server, order_id, connection_id)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                changed = self._db.execute(
                    "UPDATE events SET acknowledged_at=?, ended_how=?, ended_at=?, end_reason=? "
                    f"WHERE {ORDER_IS} AND acknowledged_at IS NULL",
                    (now, how, now, reason, *order)).rowcount
                if how == Ending.CANCELLED and self._db.execute(
                        f"SELECT 1 FROM events WHERE {ORDER_IS} AND ended_how IN (?,?)",
                        (*order, Ending.REJECTED_HERE, Ending.REJECTED_ELSEWHERE)).fetchone():
                    changed = 0  # the rejection's echo: stopped ringing above, told to nobody
                changed += self._db.execute(
                    f"UPDATE events SET ended_how=?, ended_at=?, end_reason=? WHERE {ORDER_IS} "
                    f"AND (ended_how IS NULL OR ended_how IN ({marks}))",
                    (how, now, reason, *order, *news)).rowcount
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise LedgerError(f"cannot write the order history: {exc}") from exc
        self._committed()
        return changed

    def set_progress(self, source: str, server: str, order_id: str, progress: str,
                     reason: str | None = None, *, connection_id: str) -> bool:
        """The order went on after 接单 elsewhere (another PC, the back end's own page): keep how
        far it got (`order_state` DELIVERING, COMPLETED or CANCELLED) and the shop's reason for a
        cancellation. Never moves an order back, nor past a cancellation or a rejection; True
        when that is news."""
        if progress not in RANK or progress is None:
            raise ValueError(f"unknown progress {progress!r}")
        behind = [p for p, rank in RANK.items() if rank < RANK[progress] and p is not None]
        marks = ",".join("?" * len(behind)) or "NULL"
        return self._write(
            f"UPDATE events SET progress=?, end_reason=COALESCE(?, end_reason) WHERE {ORDER_IS} "
            "AND (ended_how IS NULL OR ended_how NOT IN "
            "('rejected_here', 'rejected_elsewhere', 'cancelled')) AND "
            f"(progress IS NULL OR progress IN ({marks}))",
            (progress, reason, source, server, order_id, connection_id, *behind)) > 0

    def in_progress(self, source: str, server: str, since: float, limit: int = 200, *,
                    connection_id: str) -> list[tuple[str, str]]:
        """(order id, state) of this server's orders that came through this connection since
        `since`, were accepted and are not completed or cancelled yet (what a status poll
        follows), oldest first."""
        rows = self._query(
            f"SELECT order_id, {STATE_SQL} AS state FROM events WHERE kind='new_order' AND source=? "
            "AND server=? AND connection_id=? AND received_at >= ? AND state IN ('accepted', 'delivering') "
            "ORDER BY id LIMIT ?", (source, server, connection_id, since, limit))
        return [(row[0], row[1]) for row in rows]

    def day_orders(self, start: float, end: float) -> list[tuple[str | None, str, str]]:
        """(amount, currency, state) of every new order received in [start, end): what the
        day's figures are computed from (today.py)."""
        return [tuple(row) for row in self._query(
            f"SELECT amount, currency, {STATE_SQL} FROM events WHERE kind='new_order' AND "
            "received_at >= ? AND received_at < ? ORDER BY id", (start, end))]

    def order_keys(self, source: str, server: str, order_id: str, *, connection_id: str) -> list[str]:
        """The keys of every event of this order (the order and its reminders) that came through
        this connection, oldest first: what its popups and voice lines are known by."""
        rows = self._query(f"SELECT key FROM events WHERE {ORDER_IS} ORDER BY id",
                           (source, server, order_id, connection_id))
        return [row[0] for row in rows]

    def set_details(self, source: str, server: str, order_id: str, details: OrderDetails, *,
                    connection_id: str, amount: Decimal | None = None,
                    customer: str | None = None) -> int:
        """Keep the order's details (items, remark, ...) that came after it was stored; the
        amount and customer fill the order's own columns where the frame had none. Nothing is
        awaited for the order any more (`details_due` cleared)."""
        return self._write(
            "UPDATE events SET details=?, amount=COALESCE(amount, ?), customer=COALESCE(customer, ?), "
            "details_due=NULL "
            f"WHERE {ORDER_IS} AND kind='new_order'",
            (_details_column(details), str(amount) if amount is not None else None,
             customer, source, server, order_id, connection_id))

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
        rows = self._query(f"SELECT {ENTRY_COLUMNS} FROM events WHERE id=?", (entry_id,))
        return entry_from_row(rows[0]) if rows else None

    def recent(
        self,
        limit: int = 500,
        *,
        since: float | None = None,
        unacknowledged_only: bool = False,
        search: str = "",
        ended_how: str | None = None,
        state: str | None = None,
        connection: str | None = None,
    ) -> list[LedgerEntry]:
        """Newest first. `ended_how`: only orders whose alert ended that way (an `Ending`);
        `state`: only orders in that state of their life (an `order_state` value);
        `connection`: only those that came through the connection of that name."""
        where, params = ["1=1"], []
        if connection is not None:
            where.append("connection = ?")
            params.append(connection)
        if ended_how is not None:
            where.append("ended_how = ?")
            params.append(ended_how)
        if state is not None:
            where.append(f"{STATE_SQL} = ?")
            params.append(state)
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
            f"SELECT {ENTRY_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [entry_from_row(row) for row in rows]

    def unacknowledged(self) -> list[LedgerEntry]:
        rows = self._query(
            f"SELECT {ENTRY_COLUMNS} FROM events WHERE acknowledged_at IS NULL ORDER BY id"
        )
        return [entry_from_row(row) for row in rows]

    def oldest_waiting_order(self) -> OrderEvent | None:
        """The new order waiting longest for someone (what the tray's accept / reject name)."""
        rows = self._query(f"SELECT {ENTRY_COLUMNS} FROM events WHERE acknowledged_at IS NULL AND "
                           "kind='new_order' ORDER BY id LIMIT 1")
        return entry_from_row(rows[0]).event if rows else None

    def untold(self, limit: int = 10_000) -> list[LedgerEntry]:
        """Events stored but never told (a crash came between the two), oldest first."""
        rows = self._query(
            f"SELECT {ENTRY_COLUMNS} FROM events WHERE told_at IS NULL ORDER BY id LIMIT ?", (limit,))
        return [entry_from_row(row) for row in rows]

    def find(self, key: str) -> LedgerEntry | None:
        """The entry stored under this event key (what a notification click names)."""
        rows = self._query(f"SELECT {ENTRY_COLUMNS} FROM events WHERE key=?", (key,))
        return entry_from_row(rows[0]) if rows else None

    def order(self, source: str, server: str, order_id: str, *,
              connection_id: str) -> OrderEvent | None:
        """The new-order event of this order (that came through this connection), if the
        ledger has it."""
        rows = self._query(
            f"SELECT {ENTRY_COLUMNS} FROM events WHERE {ORDER_IS} "
            "AND kind='new_order' ORDER BY id DESC LIMIT 1",
            (source, server, order_id, connection_id),
        )
        return entry_from_row(rows[0]).event if rows else None

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

    def ringing_order_ids(self, source: str, server: str, limit: int = 200, *,
                          connection_id: str) -> list[str]:
        """Orders of this source and server that came through this connection and still wait
        for someone, oldest first."""
        rows = self._query(
            "SELECT order_id FROM events WHERE acknowledged_at IS NULL AND source=? AND server=? "
            "AND connection_id=? GROUP BY order_id ORDER BY MIN(id) LIMIT ?",
            (source, server, connection_id, limit))
        return [row[0] for row in rows]

    def unacknowledged_orders(self, connection_ids: Iterable[str] | None = None) -> int:
        """How many orders (not events) wait for someone: the number on the tray icon; with
        `connection_ids` (connection scopes, `OrderEvent.connection_id`) those connections' only."""
        if connection_ids is None:
            return self._query(
                f"SELECT COUNT(*) FROM (SELECT DISTINCT {ORDER_COLUMNS} FROM events "
                "WHERE acknowledged_at IS NULL)"
            )[0][0]
        scopes = tuple(connection_ids)
        return self._query(
            f"SELECT COUNT(*) FROM (SELECT DISTINCT {ORDER_COLUMNS} FROM events "
            f"WHERE acknowledged_at IS NULL AND connection_id IN ({', '.join('?' * len(scopes))}))",
            scopes,
        )[0][0]

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM events")[0][0]

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
