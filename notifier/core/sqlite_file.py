"""One way to open the order history's SQLite file, for every part that keeps tables in it (the
ledger, the print queue, the action outbox): WAL, so readers never block the one writer;
synchronous=NORMAL, which in WAL mode loses nothing a commit returned for on a process crash;
autocommit, so each part opens its transactions itself; usable from its own worker threads.
The file is its owner's only (0600): SQLite gives its -wal and -shm files the same mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from notifier.core.private_files import private_file


def open_wal(path: Path, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to `path` (its folder made if missing); raises sqlite3.Error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            private_file(companion)  # left by an older version with the umask's mode
    db = sqlite3.connect(private_file(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    return db
