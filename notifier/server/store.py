"""The server's state on disk: shops, their event logs, used nonces and idempotency keys.

One SQLite database (WAL, `synchronous=NORMAL`: a killed server loses nothing it has answered
for) plus one file per shop holding its ingest secret. The secret must be usable for HMAC
verification, so it is kept as is, in a file only the server's user can read (0600, in a 0700
directory); client tokens are kept only as their SHA-256.

Sequence numbers are per shop, start at 1 and never go back, even after old events expire
(`pruned_through` remembers the highest expired one, which is how a history gap is detected).
Each shop also has an `identity`, sent to clients as the `store` of its stream: a shop that is
removed and created again, or a data directory that is replaced, gets a new one, so a client's
cursor from before can never be resumed against other events that happen to have the same
sequence numbers.

What the app calls (the interface is spelled out in store_api.py; redis_store.py is the other
implementation): `ingest_secret`,
`check_token`, `shop`, `shop_credentials`, `credentials_version`, `append_many`, `events_after`,
`prune_batch`, `checkpoint`, `store_id`, `close`; the callback deliverer `release_claims`,
`claim_deliveries`, `finish_delivery`, `retry_delivery`, `import_delivery`. The admin commands use
`add_shop`, `rotate`, `remove_shop`, `shops`, `set_callback`.

A decision (`Appending.callback`) of a shop with a callback URL gets its row in
`callback_deliveries` from the same transaction that appends it (see deliveries.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.core.atomic import write_atomic
from notifier.core.protocol import token_hash, valid_shop_name
from notifier.server import order_states, shop_state
from notifier.server.deliveries import (
    BATCH,
    SQLITE_SCHEMA,
    Delivery,
    callback_body,
    check_callback_url,
    event_id_of,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shops (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    pruned_through INTEGER NOT NULL DEFAULT 0,
    identity TEXT
);
CREATE TABLE IF NOT EXISTS events (
    shop TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    nonce TEXT,
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
CREATE TABLE IF NOT EXISTS order_states (
    shop TEXT NOT NULL,
    order_id TEXT NOT NULL,
    state TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (shop, order_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (
    shop TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (shop, nonce)
) WITHOUT ROWID;
"""

PRUNE_BATCH = 2000  # rows per prune transaction: each holds the store's lock for a few ms at most
SECRET_CACHE_LIMIT = 10000  # entries; only shops with a secret file are cached, this is a backstop
AUTOCHECKPOINT_BACKSTOP_PAGES = 20000  # ~80 MB of WAL; normally checkpoint() runs long before
NONCE_KEEP_S = 900  # longer than the accepted clock skew on both sides
IDEMPOTENCY_KEEP_S = 86400.0
STATUS_BATCH = 500  # shop names per query of shop_statuses (well under SQLite's variable limit)


class ShopError(ValueError):
    """A shop name that is invalid, taken or unknown."""


class DataFolderBusy(RuntimeError):
    """Another server process is serving the same SQLite data folder."""


def claim_data_folder(data_dir: Path):
    """Hold the data folder's lock for as long as the returned file stays open.

    One server process per SQLite store: only it appends (it fans out what it stored itself,
    and keeps the recent nonces in memory), so a second server on the same folder would miss
    the first one's events and could accept a replayed request. The admin commands do not take
    the lock; they change shops, which the serving process notices."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = open(data_dir / "server.lock", "a+b")  # noqa: SIM115 - held open on purpose
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataFolderBusy(str(data_dir)) from None
    return handle


@dataclass(frozen=True, slots=True)
class Shop:
    name: str
    created_at: float
    last_seq: int
    pruned_through: int
    stored_events: int = 0
    identity: str = ""  # what clients see as the stream's `store`; new when the shop is re-created
    status: str = "open"  # open or closed (shop_state.py)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What `add-shop`/`rotate-token` print once and never store in plain (token) form."""

    shop: str
    client_token: str | None
    ingest_secret: str | None


@dataclass(frozen=True, slots=True)
class Appending:
    """One signed, validated ingest request on its way into the log."""

    shop: str
    event: dict[str, Any]
    nonce: str
    idempotency_key: str | None
    body: bytes
    encoded: str = ""  # the event as protocol.encode_event gives it, when the caller has it
    # True for a PC's decision (accept/reject): refused unless the order's state allows it
    # (order_states.py), and when the shop has a callback URL its delivery is queued in the same
    # transaction as the event. Ordinary events cost nothing more.
    callback: bool = False

    def event_json(self) -> str:
        return self.encoded or json.dumps(self.event, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class IngestResult:
    seq: int
    duplicate: bool  # True: an Idempotency-Key seen before; `seq` is the first request's
    conflict: bool = False  # the key was seen with a different body
    nonce_reused: bool = False
    received_at: float = 0.0
    identity: str = ""  # the shop's identity, for the event frame's `store`
    # A refused decision: the order's state that refused it ("accepted", "cancelled"...); `seq`
    # is then the event that put the order in that state. Nothing was stored.
    outcome: str = ""
    # The event came while the shop was closed: stored with shop_state.CLOSED_MARK.
    shop_closed: bool = False
    # The shop is being moved into this store (`migrate --live`): nothing was stored; retry later.
    arriving: bool = False


class PrunesInBatches:
    """`prune` for a store that has `prune_batch` (both stores: the server prunes batch by batch)."""

    def prune_batch(self, retention_s: float, *, now: float | None = None) -> tuple[int, bool]:
        raise NotImplementedError

    def prune(self, retention_s: float, *, now: float | None = None) -> int:
        """Forget everything past its keeping time, in batches; returns the events removed."""
        total = 0
        while True:
            removed, more = self.prune_batch(retention_s, now=now)
            total += removed
            if not more:
                return total


class EventStore(PrunesInBatches):
    """All server state; safe to share between threads (one connection behind a lock)."""

    shared = False  # only this process appends: the ingest path fans out directly

    def __init__(self, data_dir: Path | str, *, clock=time.time):
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._lock = threading.Lock()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secrets_dir = self.data_dir / "ingest-secrets"
        self.secrets_dir.mkdir(exist_ok=True, mode=0o700)
        self._secrets_prefix = str(self.secrets_dir) + os.sep
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
        # Checkpoints copy the WAL into the database: done by `checkpoint()` on the server's
        # upkeep thread, not by whichever ingest commit happens to cross the threshold (that
        # one would hold the store, and the event loop, for up to a few hundred ms). The
        # automatic one stays as a backstop at a much larger size.
        self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_BACKSTOP_PAGES}")
        self._side_db: sqlite3.Connection | None = None  # upkeep's own connection (see _side)
        self._side_lock = threading.Lock()
        self._db.executescript(_SCHEMA + SQLITE_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (secrets.token_hex(6),))
            row = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        self.store_id: str = row[0]
        if "nonce" not in {r[1] for r in self._db.execute("PRAGMA table_info(events)")}:
            self._db.execute("ALTER TABLE events ADD COLUMN nonce TEXT")  # a store from before
        self._nonces = RecentNonces(NONCE_KEEP_S)
        self._nonces.load(self._db, self._clock())
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(shops)")}
        if "identity" not in columns:  # a store from before per-shop identities
            self._db.execute("ALTER TABLE shops ADD COLUMN identity TEXT")
        if "callback_url" not in columns:  # a store from before callbacks lived in it
            self._db.execute("ALTER TABLE shops ADD COLUMN callback_url TEXT")
        if "status" not in columns:  # a store from before shops could close (shop_state.py)
            self._db.execute("ALTER TABLE shops ADD COLUMN status TEXT NOT NULL DEFAULT 'open'")
            self._db.execute("ALTER TABLE shops ADD COLUMN status_seq INTEGER NOT NULL DEFAULT 0")
        # Shops from before keep the store id as identity, so their clients' cursors and event
        # ids stay what they were.
        self._db.execute("UPDATE shops SET identity=? WHERE identity IS NULL", (self.store_id,))
        self._secret_cache: dict[str, tuple[tuple, str]] = {}
        self._local_changes = 0  # credentials changed through this object (data_version misses those)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            with self._side_lock:
                if self._side_db is not None:
                    self._side_db.close()
                    self._side_db = None

    def _side(self) -> sqlite3.Connection:
        """A second connection for upkeep (checkpoints, finding expired rows): in WAL mode its
        reads neither take the store's lock nor wait for writers. Hold _side_lock to use it."""
        if self._side_db is None:
            self._side_db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        return self._side_db

    def checkpoint(self) -> None:
        """Copy the WAL into the database on the side connection: a PASSIVE checkpoint neither
        takes the store's lock nor blocks writers. Call it off the event loop."""
        with self._side_lock:
            self._side().execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- shops ---------------------------------------------------------------------------

    def _secret_file(self, shop: str) -> Path:
        return self.secrets_dir / shop

    def add_shop(self, name: str) -> Credentials:
        if not valid_shop_name(name):
            raise ShopError(f"shop name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        token, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO shops(name, token_hash, created_at, identity) VALUES (?, ?, ?, ?)",
                    (name, token_hash(token), self._clock(), secrets.token_hex(6)),
                )
            except sqlite3.IntegrityError:
                raise ShopError(f"shop {name!r} already exists") from None
            write_atomic(self._secret_file(name), secret.encode(), mode=0o600)
            self._local_changes += 1
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
            self._local_changes += 1
        return Credentials(name, new_token, new_secret)

    def remove_shop(self, name: str) -> None:
        if not valid_shop_name(name):  # no such shop can exist; and '' would name the secrets folder
            raise ShopError(f"no shop named {name!r}")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute("DELETE FROM shops WHERE name=?", (name,)).rowcount
            for table in ("events", "idempotency", "nonces", "callback_deliveries", "order_states"):
                self._db.execute(f"DELETE FROM {table} WHERE shop=?", (name,))
            self._db.execute("COMMIT")
            self._secret_cache.pop(name, None)
            self._local_changes += 1
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
                "SELECT name, created_at, last_seq, pruned_through, 0, identity, status FROM shops WHERE name=?", (name,)
            ).fetchone()
        return Shop(*row) if row else None

    def shop_status(self, name: str) -> tuple[str, int] | None:
        """(open or closed, the seq of the event that made it so; 0: never changed), or None for
        no such shop."""
        with self._lock:
            row = self._db.execute("SELECT status, status_seq FROM shops WHERE name=?", (name,)).fetchone()
        return (row[0], row[1]) if row else None

    def shop_statuses(self, names: list[str]) -> dict[str, str]:
        """Each named shop's state (open or closed), for the shops that exist: one query per
        `STATUS_BATCH` names (the no-PC alerts read their shops' states every few seconds)."""
        found: dict[str, str] = {}
        for start in range(0, len(names), STATUS_BATCH):
            batch = names[start:start + STATUS_BATCH]
            with self._lock:
                rows = self._db.execute(
                    f"SELECT name, status FROM shops WHERE name IN ({','.join('?' * len(batch))})", batch).fetchall()
            found.update(rows)
        return found

    def credentials_version(self) -> tuple[int, int]:
        """A value that changes whenever any shop's token or existence may have changed, in this
        process or another one (`notifier server rotate-token` on a running server). O(1): a
        running server polls it and reads `shop_credentials()` only when it changed."""
        with self._lock:
            # data_version changes when another connection commits; our own commits are counted
            # in _local_changes (ingest does not count: it changes no credentials).
            data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
            return data_version, self._local_changes

    def shop_credentials(self) -> dict[str, tuple[str, str]]:
        """Every shop's (token hash, identity), by name."""
        with self._lock:
            rows = self._db.execute("SELECT name, token_hash, identity FROM shops").fetchall()
        return {name: (hashed, identity) for name, hashed, identity in rows}

    def token_matches(self, name: str, token: str) -> str | None:
        """The token's hash when it is `name`'s current token, else None."""
        try:
            hashed = token_hash(token)
        except UnicodeEncodeError:  # a lone surrogate from a hostile header: no shop has that token
            return None
        with self._lock:
            row = self._db.execute("SELECT token_hash FROM shops WHERE name=?", (name,)).fetchone()
        return hashed if row and hmac.compare_digest(row[0], hashed) else None

    def check_token(self, name: str, token: str) -> bool:
        return self.token_matches(name, token) is not None

    def ingest_secret(self, name: str) -> str | None:
        """The shop's ingest secret. Re-read when its file changes, so `rotate-token --ingest`
        (another process) takes effect at the next request and the old secret stops working.

        The name is checked against the shop-name rule before anything touches the disk (a name
        from a URL may hold "../"), and only names with a secret file are cached."""
        if not valid_shop_name(name):
            return None
        path = self._secrets_prefix + name  # a str, not a Path: this runs for every request
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._secret_cache.get(name)
            if cached and cached[0] == stamp:
                return cached[1]
            with open(path, encoding="utf-8") as file:
                secret = file.read().strip()
        except (OSError, ValueError):
            self._secret_cache.pop(name, None)
            return None
        if len(self._secret_cache) >= SECRET_CACHE_LIMIT:
            self._secret_cache.clear()
        self._secret_cache[name] = (stamp, secret)
        return secret

    # -- events --------------------------------------------------------------------------

    def append(
        self, shop: str, event: dict[str, Any], *, nonce: str, idempotency_key: str | None, body: bytes
    ) -> IngestResult:
        """Store one event (with its nonce and idempotency key) in one transaction."""
        result = self.append_many([Appending(shop, event, nonce, idempotency_key, body)])[0]
        if isinstance(result, ShopError):
            raise result
        return result

    def append_many(self, items: list[Appending]) -> list[IngestResult | ShopError]:
        """Store several events in one transaction (group commit: one WAL write for all), each
        with the outcome it would have had alone, in order. A ShopError is returned, not raised,
        so one request for a removed shop does not fail the others."""
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            batch = _BatchAppend(self._db, now, self._nonces)
            try:
                results = batch.run(items)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._nonces.add_all(batch.used_nonces, now)  # only once they are on disk
        return results

    def events_after(self, shop: str, after: int, limit: int = 500) -> list[tuple[int, float, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, received_at, body FROM events WHERE shop=? AND seq>? ORDER BY seq LIMIT ?",
                (shop, after, limit),
            ).fetchall()
        return [(seq, at, json.loads(body)) for seq, at, body in rows]

    def events_since(self, shop: str, since: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Every event of the shop received at `since` or later, in order (today.py)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, received_at, body FROM events WHERE shop=? AND received_at>=? ORDER BY seq",
                (shop, since),
            ).fetchall()
        return [(seq, at, json.loads(body)) for seq, at, body in rows]

    def prune_batch(self, retention_s: float, *, now: float | None = None, batch: int = PRUNE_BATCH) -> tuple[int, bool]:
        """Forget at most `batch` events older than the retention (and old nonces and keys), in
        one short transaction. Returns (events removed, whether more may be left)."""
        now = self._clock() if now is None else now
        cutoff = now - retention_s
        # Used nonces and idempotency keys have no index by age (it would cost every ingest a
        # write): the expired ones are found by a scan on the side connection, outside the lock.
        old_nonces = self._expired_keys("nonces", "nonce", now - NONCE_KEEP_S, batch)
        old_keys = self._expired_keys("idempotency", "key", now - max(IDEMPOTENCY_KEEP_S, retention_s), batch)
        old_states = self._expired_keys("order_states", "order_id", now - order_states.KEEP_S, batch,
                                        column_of_time="updated_at")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT shop, seq FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?",
                    (cutoff, batch),
                ).fetchall()
                highest: dict[str, int] = {}
                for shop, seq in rows:
                    highest[shop] = max(seq, highest.get(shop, 0))
                self._db.executemany(
                    "UPDATE shops SET pruned_through = MAX(pruned_through, ?) WHERE name=?",
                    [(seq, shop) for shop, seq in highest.items()],
                )
                self._db.executemany("DELETE FROM events WHERE shop=? AND seq=?", rows)
                self._db.executemany("DELETE FROM nonces WHERE shop=? AND nonce=?", old_nonces)
                self._db.executemany("DELETE FROM idempotency WHERE shop=? AND key=?", old_keys)
                self._db.executemany("DELETE FROM order_states WHERE shop=? AND order_id=?", old_states)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return len(rows), batch in (len(rows), len(old_nonces), len(old_keys), len(old_states))

    def _expired_keys(self, table: str, column: str, before: float, batch: int,
                      column_of_time: str = "created_at") -> list[tuple[str, str]]:
        with self._side_lock:
            return self._side().execute(
                f"SELECT shop, {column} FROM {table} WHERE {column_of_time} < ? LIMIT ?", (before, batch)
            ).fetchall()

    # -- callbacks to the shop's back end (see deliveries.py and callbacks.py) ------------

    def set_callback(self, name: str, url: str | None) -> None:
        """Set (or with None/"" clear) the URL a shop's decisions are POSTed to."""
        url = check_callback_url(url) if url else None
        with self._lock:
            if not self._db.execute("UPDATE shops SET callback_url=? WHERE name=?", (url, name)).rowcount:
                raise ShopError(f"no shop named {name!r}")

    def callback_url(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT callback_url FROM shops WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def release_claims(self) -> None:
        """At the start of the one process that delivers: what it claimed before it died is due
        now (a SQLite store has no other process that could be sending it)."""
        with self._lock:
            self._db.execute("UPDATE callback_deliveries SET claimed=0, next_at=MIN(next_at, ?) WHERE claimed=1",
                             (self._clock(),))

    def claim_deliveries(self, lease_s: float, limit: int = BATCH, *, busy: Mapping[str, int] | None = None,
                         per_shop: int = BATCH) -> tuple[list[Delivery], float | None]:
        """Claim up to `limit` due deliveries until now + `lease_s`, at most `per_shop` of one
        shop less what it has in `busy` (in flight here); also when to look again (None:
        nothing queued; due deliveries of shops with no room are looked at when room frees)."""
        busy = busy or {}
        now = self._clock()
        until = now + lease_s
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                due = self._db.execute(
                    "SELECT id, shop FROM (SELECT id, shop, next_at, ROW_NUMBER() OVER (PARTITION BY shop "
                    "ORDER BY next_at, id) AS n FROM callback_deliveries WHERE next_at <= ?) WHERE n <= ? "
                    "ORDER BY next_at, id", (now, per_shop)).fetchall()
                room, ids = dict(busy), []
                for row_id, shop in due:
                    if len(ids) < limit and room.get(shop, 0) < per_shop:
                        room[shop] = room.get(shop, 0) + 1
                        ids.append((until, row_id))
                rows = []
                for params in ids:
                    rows += self._db.execute(
                        "UPDATE callback_deliveries SET claimed=1, next_at=? WHERE id=? "
                        "RETURNING shop, event_id, url, body, attempts, created_at", params).fetchall()
                first = self._db.execute("SELECT MIN(next_at) FROM callback_deliveries WHERE next_at > ?",
                                         (now,)).fetchone()[0]
                if len(ids) >= limit:
                    first = now  # there may be more due than this claim could take
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return [Delivery(*row, claim=until) for row in rows], first

    def reindex_deliveries(self) -> int:
        """Nothing to rebuild: the claim reads the queue's own index."""
        return 0

    def finish_delivery(self, delivery: Delivery) -> None:
        """Delivered (or given up): forget it."""
        with self._lock:
            self._db.execute("DELETE FROM callback_deliveries WHERE event_id=?", (delivery.event_id,))

    def retry_delivery(self, delivery: Delivery, next_at: float, error: str) -> None:
        """One more failed attempt: due again at `next_at`, if this claim still holds it."""
        with self._lock:
            self._db.execute(
                "UPDATE callback_deliveries SET attempts=attempts+1, claimed=0, next_at=?, last_error=? "
                "WHERE event_id=? AND next_at=?", (next_at, error[:300], delivery.event_id, delivery.claim))

    def import_delivery(self, shop: str, event_id: str, url: str, body: bytes, attempts: int,
                        created_at: float) -> bool:
        """A delivery an older server queued in its own outbox; False if known already."""
        with self._lock:
            return self._db.execute(
                "INSERT OR IGNORE INTO callback_deliveries(event_id, shop, url, body, attempts, next_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, shop, url, body, attempts, self._clock(), created_at)).rowcount == 1

    def pending_deliveries(self, shop: str) -> list[tuple[str, int]]:
        """(event id, failed attempts) of the shop's deliveries not done yet, oldest first."""
        with self._lock:
            return [tuple(r) for r in self._db.execute(
                "SELECT event_id, attempts FROM callback_deliveries WHERE shop=? ORDER BY id", (shop,))]


class RecentNonces:
    """The nonces used in the last NONCE_KEEP_S, in memory, to refuse a replayed request.

    On disk each event keeps its nonce in its own row (the log is written in order, so that
    costs no extra page; a table of random nonces cost a B-tree page of its own for almost
    every event of a transaction). On open the set is rebuilt from the events received within
    the window, and from the `nonces` table a store from before kept. Only one server process
    appends to a SQLite store (the runner holds the data folder's lock), so the set is the whole
    truth. Each nonce is kept as a 64-bit hash of (shop, nonce), about 100 bytes with its expiry
    (a false "reused" needs two of the window's nonces to share 64 bits: about 1 in 10^13 per
    request with a million in the window).
    """

    def __init__(self, keep_s: float):
        self.keep_s = keep_s
        self._until: dict[int, float] = {}
        self._keys: deque[int] = deque()  # in the order they expire, beside their expiry
        self._expiries: deque[float] = deque()

    @staticmethod
    def key(shop: str, nonce: str) -> int:
        return hash((shop, nonce))

    def __contains__(self, key: int) -> bool:
        return key in self._until

    def add_all(self, keys: list[int], now: float) -> None:
        until = now + self.keep_s
        for key in keys:
            self._until[key] = until
            self._keys.append(key)
            self._expiries.append(until)
        expiries, table = self._expiries, self._until
        while expiries and expiries[0] <= now:
            expiry, key = expiries.popleft(), self._keys.popleft()
            if table.get(key) == expiry:
                del table[key]

    def load(self, db: sqlite3.Connection, now: float) -> None:
        since = now - self.keep_s
        for table, column in (("events", "received_at"), ("nonces", "created_at")):
            rows = db.execute(
                f"SELECT shop, nonce, {column} FROM {table} WHERE {column} >= ? AND nonce IS NOT NULL "
                f"ORDER BY {column}", (since,))
            for shop, nonce, at in rows:
                self.add_all([self.key(shop, nonce)], at)

    def __len__(self) -> int:
        return len(self._until)


class _BatchAppend:
    """One group-commit batch inside an open transaction, with as few statements as it takes.

    Each request gets the outcome it would have had alone, in order (an Idempotency-Key used
    twice in one batch is a duplicate of the first; a reused nonce is refused; an unknown shop
    is a ShopError, and its nonce is not used up), but the statements are per batch, not per
    event: a shop's row is read once and its `last_seq` written once, and the events (with their
    nonces) and keys go in with one `executemany` each. The transaction (BEGIN IMMEDIATE) keeps
    other writers out while the numbers are handed out.
    """

    def __init__(self, db: sqlite3.Connection, now: float, nonces: RecentNonces):
        self.db, self.now, self.nonces = db, now, nonces
        # name -> [last_seq, identity, first_seq, callback url, status, status seq, status changed] or []
        self.shops: dict[str, list] = {}
        self.keys: dict[tuple[str, str], tuple[int, str]] = {}  # this batch's keys
        self.events: list[tuple] = []
        self.idempotency: list[tuple] = []
        self.used_nonces: list[int] = []  # RecentNonces keys, remembered once committed
        self._batch_nonces: set[int] = set()
        self.deliveries: list[tuple] = []  # decisions' callbacks, queued by this same transaction
        self.states: dict[tuple[str, str], tuple[str, int]] = {}  # (shop, order) -> (state, seq) as of now
        self.changed_states: set[tuple[str, str]] = set()

    def run(self, items: list[Appending]) -> list[IngestResult | ShopError]:
        results = [self._one(item) for item in items]
        if self.events:
            self.db.executemany(
                "INSERT INTO events(shop, seq, received_at, body, nonce) VALUES (?, ?, ?, ?, ?)", self.events
            )
            self.db.executemany(
                "UPDATE shops SET last_seq=? WHERE name=?",
                [(row[0], name) for name, row in self.shops.items() if row and row[0] != row[2]],
            )
        if self.idempotency:
            self.db.executemany(
                "INSERT INTO idempotency(shop, key, seq, body_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                self.idempotency,
            )
        if self.deliveries:
            self.db.executemany(
                "INSERT OR IGNORE INTO callback_deliveries(event_id, shop, url, body, next_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", self.deliveries)
        if self.changed_states:
            self.db.executemany(
                "INSERT OR REPLACE INTO order_states(shop, order_id, state, seq, updated_at) VALUES (?, ?, ?, ?, ?)",
                [(*key, *self.states[key], self.now) for key in self.changed_states])
        opened_or_closed = [(row[4], row[5], name) for name, row in self.shops.items() if row and row[6]]
        if opened_or_closed:
            self.db.executemany("UPDATE shops SET status=?, status_seq=? WHERE name=?", opened_or_closed)
        return results

    def _order_state(self, shop: str, order_id: str) -> tuple[str, int]:
        key = (shop, order_id)
        found = self.states.get(key)
        if found is None:
            row = self.db.execute("SELECT state, seq FROM order_states WHERE shop=? AND order_id=?", key).fetchone()
            found = self.states[key] = (row[0], row[1]) if row else (order_states.OPEN, 0)
        return found

    def _shop(self, name: str) -> list:
        row = self.shops.get(name)
        if row is None:
            found = self.db.execute(
                "SELECT last_seq, identity, callback_url, status, status_seq FROM shops WHERE name=?",
                (name,)).fetchone()
            row = self.shops[name] = [found[0], found[1], found[0], found[2], found[3], found[4], False] if found else []
        return row

    def _one(self, item: Appending) -> IngestResult | ShopError:
        shop, key = item.shop, item.idempotency_key
        body_hash = hashlib.sha256(item.body).hexdigest() if key else ""
        if key:
            earlier = self.keys.get((shop, key))
            if earlier is not None:  # the same key earlier in this batch
                seq, first_hash = earlier
                return IngestResult(seq, True, conflict=first_hash != body_hash, received_at=self.now)
            row = self.db.execute(
                "SELECT seq, body_hash, created_at FROM idempotency WHERE shop=? AND key=?", (shop, key)
            ).fetchone()
            if row:
                return IngestResult(row[0], True, conflict=row[1] != body_hash, received_at=row[2])
        state = self._shop(shop)
        if not state:
            return ShopError(f"no shop named {shop!r}")
        order_key, moves_to = None, None
        if item.event.get("kind") in order_states.STATE_KINDS:
            order_key = (shop, item.event["order_id"])
            now_state, state_seq = self._order_state(*order_key)
            moves_to = order_states.next_state(now_state, item.event["kind"])
            if moves_to is None and item.callback:  # a decision the order's state does not allow
                return IngestResult(state_seq, False, received_at=self.now, identity=state[1], outcome=now_state)
        kind = item.event.get("kind")
        shop_moves_to = None
        if kind in shop_state.KINDS:
            shop_moves_to = shop_state.next_state(state[4], kind)
            if shop_moves_to is None:  # already open (closed): nothing to store
                return IngestResult(state[5], False, received_at=self.now, identity=state[1], outcome=state[4])
        closed = kind in shop_state.MARKED_KINDS and state[4] == shop_state.CLOSED
        used = RecentNonces.key(shop, item.nonce)
        if used in self.nonces or used in self._batch_nonces:
            return IngestResult(0, False, nonce_reused=True)
        self._batch_nonces.add(used)
        self.used_nonces.append(used)
        state[0] += 1
        seq = state[0]
        encoded = item.event_json()
        self.events.append((shop, seq, self.now, shop_state.marked(encoded) if closed else encoded, item.nonce))
        if shop_moves_to is not None:
            state[4], state[5], state[6] = shop_moves_to, seq, True
        if moves_to is not None:
            self.states[order_key] = (moves_to, seq)
            self.changed_states.add(order_key)
        if key:
            self.keys[(shop, key)] = (seq, body_hash)
            self.idempotency.append((shop, key, seq, body_hash, self.now))
        if item.callback and state[3]:
            event_id = event_id_of(state[1], seq)
            self.deliveries.append((event_id, shop, state[3], callback_body(shop, event_id, seq, item.event),
                                    self.now, self.now))
        return IngestResult(seq, False, received_at=self.now, identity=state[1], shop_closed=closed)
