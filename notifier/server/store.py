"""The server's state on disk: shops, their event logs, used nonces and idempotency keys.

One SQLite database (WAL, `synchronous=NORMAL`: a killed server loses nothing it has answered
for) plus one file per shop holding its ingest secret. The secret must be usable for HMAC
verification, so it is kept as is, in a file only the server's user can read (0600, in a 0700
directory); client tokens are kept only as their SHA-256.

Sequence numbers are per shop, start at 1 and never go back, even after old events expire
(`pruned_through` remembers the highest expired one, which is how a history gap is detected).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.core.atomic import write_atomic
from notifier.core.protocol import SHOP_NAME, token_hash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shops (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    pruned_through INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    shop TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_age ON events(received_at);
CREATE TABLE IF NOT EXISTS idempotency (
    shop TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (shop, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (
    shop TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (shop, nonce)
) WITHOUT ROWID;
"""

NONCE_KEEP_S = 900  # longer than the accepted clock skew on both sides
IDEMPOTENCY_KEEP_S = 86400.0


class ShopError(ValueError):
    """A shop name that is invalid, taken or unknown."""


@dataclass(frozen=True, slots=True)
class Shop:
    name: str
    created_at: float
    last_seq: int
    pruned_through: int
    stored_events: int = 0


@dataclass(frozen=True, slots=True)
class Credentials:
    """What `add-shop`/`rotate-token` print once and never store in plain (token) form."""

    shop: str
    client_token: str | None
    ingest_secret: str | None


@dataclass(frozen=True, slots=True)
class IngestResult:
    seq: int
    duplicate: bool  # True: an Idempotency-Key seen before; `seq` is the first request's
    conflict: bool = False  # the key was seen with a different body
    nonce_reused: bool = False
    received_at: float = 0.0


class EventStore:
    """All server state; safe to share between threads (one connection behind a lock)."""

    def __init__(self, data_dir: Path | str, *, clock=time.time):
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._lock = threading.Lock()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secrets_dir = self.data_dir / "ingest-secrets"
        self.secrets_dir.mkdir(exist_ok=True, mode=0o700)
        try:
            os.chmod(self.secrets_dir, 0o700)
        except OSError:
            pass
        self.path = self.data_dir / "events.sqlite3"
        # Customer names and amounts are in there: only the server's user may read it. SQLite
        # gives its -wal and -shm files the same mode as the database.
        self.path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (secrets.token_hex(6),))
            row = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        self.store_id: str = row[0]
        self._secret_cache: dict[str, tuple[tuple, str]] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- shops ---------------------------------------------------------------------------

    def _secret_file(self, shop: str) -> Path:
        return self.secrets_dir / shop

    def add_shop(self, name: str) -> Credentials:
        if not SHOP_NAME.match(name):
            raise ShopError(f"shop name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        token, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO shops(name, token_hash, created_at) VALUES (?, ?, ?)",
                    (name, token_hash(token), self._clock()),
                )
            except sqlite3.IntegrityError:
                raise ShopError(f"shop {name!r} already exists") from None
            write_atomic(self._secret_file(name), secret.encode(), mode=0o600)
        return Credentials(name, token, secret)

    def rotate(self, name: str, *, token: bool = True, ingest: bool = False) -> Credentials:
        new_token = secrets.token_urlsafe(32) if token else None
        new_secret = secrets.token_urlsafe(32) if ingest else None
        with self._lock:
            if not self._db.execute("SELECT 1 FROM shops WHERE name=?", (name,)).fetchone():
                raise ShopError(f"no shop named {name!r}")
            if new_token:
                self._db.execute("UPDATE shops SET token_hash=? WHERE name=?", (token_hash(new_token), name))
            if new_secret:
                write_atomic(self._secret_file(name), new_secret.encode(), mode=0o600)
                self._secret_cache.pop(name, None)
        return Credentials(name, new_token, new_secret)

    def remove_shop(self, name: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute("DELETE FROM shops WHERE name=?", (name,)).rowcount
            for table in ("events", "idempotency", "nonces"):
                self._db.execute(f"DELETE FROM {table} WHERE shop=?", (name,))
            self._db.execute("COMMIT")
            self._secret_cache.pop(name, None)
            try:
                self._secret_file(name).unlink()
            except FileNotFoundError:
                pass
        if not gone:
            raise ShopError(f"no shop named {name!r}")

    def shops(self) -> list[Shop]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.name, s.created_at, s.last_seq, s.pruned_through, "
                "(SELECT COUNT(*) FROM events e WHERE e.shop = s.name) FROM shops s ORDER BY s.name"
            ).fetchall()
        return [Shop(*row) for row in rows]

    def shop(self, name: str) -> Shop | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, created_at, last_seq, pruned_through FROM shops WHERE name=?", (name,)
            ).fetchone()
        return Shop(*row) if row else None

    def check_token(self, name: str, token: str) -> bool:
        import hmac

        with self._lock:
            row = self._db.execute("SELECT token_hash FROM shops WHERE name=?", (name,)).fetchone()
        return bool(row) and hmac.compare_digest(row[0], token_hash(token))

    def ingest_secret(self, name: str) -> str | None:
        """The shop's ingest secret. Re-read when its file changes, so `rotate-token --ingest`
        (another process) takes effect at the next request and the old secret stops working."""
        path = self._secret_file(name)
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._secret_cache.get(name)
            if cached and cached[0] == stamp:
                return cached[1]
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            self._secret_cache.pop(name, None)
            return None
        self._secret_cache[name] = (stamp, secret)
        return secret

    # -- events --------------------------------------------------------------------------

    def append(
        self, shop: str, event: dict[str, Any], *, nonce: str, idempotency_key: str | None, body: bytes
    ) -> IngestResult:
        """Store one event (with its nonce and idempotency key) in one transaction."""
        now = self._clock()
        body_hash = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if idempotency_key:
                    row = self._db.execute(
                        "SELECT seq, body_hash, created_at FROM idempotency WHERE shop=? AND key=?",
                        (shop, idempotency_key),
                    ).fetchone()
                    if row:
                        self._db.execute("ROLLBACK")
                        return IngestResult(row[0], True, conflict=row[1] != body_hash, received_at=row[2])
                used = self._db.execute(
                    "INSERT OR IGNORE INTO nonces(shop, nonce, created_at) VALUES (?, ?, ?)", (shop, nonce, now)
                ).rowcount
                if not used:
                    self._db.execute("ROLLBACK")
                    return IngestResult(0, False, nonce_reused=True)
                row = self._db.execute(
                    "UPDATE shops SET last_seq = last_seq + 1 WHERE name=? RETURNING last_seq", (shop,)
                ).fetchone()
                if row is None:
                    self._db.execute("ROLLBACK")
                    raise ShopError(f"no shop named {shop!r}")
                seq = row[0]
                self._db.execute(
                    "INSERT INTO events(shop, seq, received_at, body) VALUES (?, ?, ?, ?)",
                    (shop, seq, now, json.dumps(event, ensure_ascii=False, separators=(",", ":"))),
                )
                if idempotency_key:
                    self._db.execute(
                        "INSERT INTO idempotency(shop, key, seq, body_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                        (shop, idempotency_key, seq, body_hash, now),
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return IngestResult(seq, False, received_at=now)

    def events_after(self, shop: str, after: int, limit: int = 500) -> list[tuple[int, float, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, received_at, body FROM events WHERE shop=? AND seq>? ORDER BY seq LIMIT ?",
                (shop, after, limit),
            ).fetchall()
        return [(seq, at, json.loads(body)) for seq, at, body in rows]

    def prune(self, retention_s: float, *, now: float | None = None) -> int:
        """Forget events older than the retention, and nonces/keys nobody can reuse any more."""
        now = self._clock() if now is None else now
        cutoff = now - retention_s
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE shops SET pruned_through = MAX(pruned_through, COALESCE("
                "(SELECT MAX(seq) FROM events e WHERE e.shop = shops.name AND e.received_at < ?), 0))",
                (cutoff,),
            )
            removed = self._db.execute("DELETE FROM events WHERE received_at < ?", (cutoff,)).rowcount
            self._db.execute("DELETE FROM nonces WHERE created_at < ?", (now - NONCE_KEEP_S,))
            self._db.execute(
                "DELETE FROM idempotency WHERE created_at < ?", (now - max(IDEMPOTENCY_KEEP_S, retention_s),)
            )
            self._db.execute("COMMIT")
        return removed
