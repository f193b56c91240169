"""What the outboxes kept in the order history's own SQLite file share.

The print queue (tickets on their way to a printer) and the action outbox (accept / reject on its
way to the shop's back end) are both tables in the ledger's file, written in the same
transaction as the order or the click they serve. Each opens its own connection (WAL: readers
never block the ledger's writer), uses it behind one lock, and turns every SQLite failure into
its own error with one sentence. And both keep rows in `waiting` → `sending` → `done`: opening
one is what turns a dead run's `sending` rows back into `waiting`, marked in doubt (the printer
or the back end may have them already), so it must be opened once per process.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from notifier.core import ledger_schema
from notifier.core.sqlite_file import open_wal

T = TypeVar("T")


class OutboxFile:
    """One outbox table in the ledger's file (declared in `ledger_schema`). Subclasses set
    `table`, `name` (for the sentences: "the print queue") and `error` (the exception they raise)."""

    table: str
    name: str
    error: type[Exception] = RuntimeError

    def __init__(self, path: Path | str, *, clock=time.time):
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_wal(self.path, busy_timeout_ms=10000)
            ledger_schema.migrate(self._db)  # whoever opens the file first brings it up to date
            # Whatever was being sent when the last run stopped is in doubt from now on.
            self._db.execute(f"UPDATE {self.table} SET state='waiting', in_doubt=1 WHERE state='sending'")
        except sqlite3.Error as exc:
            raise self.error(f"cannot open {self.name} in {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db.execute(sql, params)
            except sqlite3.Error as exc:
                raise self.error(f"cannot use {self.name}: {exc}") from exc

    def _read(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """`read(connection)` behind the lock, its SQLite failure turned into this outbox's error."""
        with self._lock:
            try:
                return read(self._db)
            except sqlite3.Error as exc:
                raise self.error(f"cannot use {self.name}: {exc}") from exc

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` in one transaction: all of it or (on an error) none of it."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                result = work(self._db)
                self._db.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise self.error(f"cannot use {self.name}: {exc}") from exc
