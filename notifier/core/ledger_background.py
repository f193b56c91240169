"""The ledger's work that must not be on an order's path, each on a thread of its own.

`ToldMarkWriter` commits told marks that found the ledger busy (see `Ledger.mark_told`).
`Checkpointer` folds the WAL back into the database with passive checkpoints on its own
connection, so no order's commit ever pays for one (see the ledger's module docstring).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from notifier.core.sqlite_file import open_wal

log = logging.getLogger(__name__)

# Commits between background checkpoints: a few hundred WAL pages, copied back in a few ms.
CHECKPOINT_EVERY = 100
# ... and a checkpoint this long after the last commit, so a quiet shop's WAL is folded in too.
CHECKPOINT_IDLE_S = 2.0
# A passive checkpoint never finishes while writes keep coming (a long bulk import), so the WAL
# would grow without end: past this size the checkpointer waits for a gap between writes
# instead (RESTART), and the WAL file is cut back to this size when it starts over.
WAL_LIMIT_BYTES = 8 * 1024 * 1024


class ToldMarkWriter:
    """Told marks that found the ledger busy, and the thread that writes them.

    The thread starts at the first such mark and wakes at once for it; whatever is queued while
    it waits or writes goes into its next transaction."""

    def __init__(self, write: Callable[[list[str]], None]):
        self._write = write
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._writing = False
        self._stopped = False
        self._thread: threading.Thread | None = None

    def add(self, keys: Iterable[str]) -> None:
        with self._cond:
            if self._stopped:
                return
            before = len(self._pending)
            self._pending.extend(keys)
            if len(self._pending) == before:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-told", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending:
                    return
                keys, self._pending = self._pending, []
                self._writing = True
            try:
                self._write(keys)
            except Exception:  # noqa: BLE001 - e.g. the file closed under us: marks are best effort
                log.exception("writing told marks failed")
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.busy(), timeout)

    def busy(self, counting_own_write: bool = True) -> bool:
        return bool(self._pending) or (self._writing and counting_own_write)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(10)  # writes what was queued before stopping


def restart_wal(db: sqlite3.Connection) -> None:
    """Start the WAL over now, from this thread. Once a checkpoint has copied the whole WAL, the
    next commit writes it from its start, with a new header that SQLite syncs to the disk first
    (an fsync: 0.3-2 ms here); in a quiet shop that next commit was every order's own, before its
    popup. One page written here (the schema version, rewritten unchanged inside the
    transaction) takes that sync; the order's commit then only appends."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version={int(version)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class Checkpointer:
    """Passive WAL checkpoints on a thread and connection of their own (see the module docstring).

    Passive: it copies what no reader still needs and never waits for, or blocks, the ledger's
    writer; the WAL is then reused from its start by the next commit. The thread lives only while
    commits are not yet checkpointed."""

    def __init__(self, path: Path):
        self._path = path
        self._cond = threading.Condition()
        self._unsaved = 0  # commits since the last checkpoint
        self._last_write = 0.0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._start_pending = False

    def written(self, start: bool = True) -> None:
        """A commit; `start=False`: a thread that is needed is started by `start_pending`."""
        with self._cond:
            if self._stopped:
                return
            self._unsaved += 1
            self._last_write = time.monotonic()
            if self._thread is None:
                if not start:
                    self._start_pending = True
                    return
                self._start_thread()
            if self._unsaved in (1, CHECKPOINT_EVERY):
                self._cond.notify_all()

    def start_pending(self) -> None:
        with self._cond:
            if self._start_pending and not self._stopped:
                self._start_pending = False
                if self._thread is None:
                    self._start_thread()
                self._cond.notify_all()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-checkpoint", daemon=True)
        self._thread.start()

    def _due(self) -> bool:
        """Wait (lock held) until a checkpoint is due; False when stopping, or when everything
        is checkpointed: then the thread ends (an idle app keeps no thread for this) and the
        next commit starts another."""
        while not self._stopped:
            if self._unsaved >= CHECKPOINT_EVERY:
                return True
            if not self._unsaved:
                self._thread = None
                return False
            quiet = time.monotonic() - self._last_write
            if quiet >= CHECKPOINT_IDLE_S:
                return True
            self._cond.wait(CHECKPOINT_IDLE_S - quiet)
        return False

    def _run(self) -> None:
        db = None
        try:
            while True:
                with self._cond:
                    if not self._due():
                        return
                    self._unsaved = 0
                try:
                    if db is None:
                        db = open_wal(self._path, busy_timeout_ms=1000)
                        db.execute("PRAGMA cache_size=-64")  # it reads no tables
                        # It starts the WAL over (restart_wal): then it also cuts the file back.
                        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
                    _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if self._wal_size() > WAL_LIMIT_BYTES:
                        _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    if frames > 0 and copied == frames:
                        restart_wal(db)
                except sqlite3.Error as exc:
                    # Tried again after the next commits; SQLite also checkpoints at close.
                    log.warning("background checkpoint failed: %s", exc)
        finally:
            if db is not None:
                db.close()

    def _wal_size(self) -> int:
        try:
            return self._path.with_name(self._path.name + "-wal").stat().st_size
        except OSError:
            return 0

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(10)
