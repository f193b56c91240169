"""`notifier server migrate --from STORE --to STORE`: move a server's shops between its two stores
(SQLite data folder -> Redis, and back), keeping what clients and order systems hold.

Kept: sequence numbers, each shop's store identity (a client's cursor resumes on the other side
as if nothing happened), token hashes, ingest secrets, `pruned_through`, creation times, callback
URLs and callbacks not delivered yet, order states (one decision per order), and idempotency
keys and used nonces still inside their windows (a retry that crosses the move is recognised, a
signed request cannot be replayed against the new store).

A live move from a SQLite server to the gateways, without renumbering anything:
1. `migrate --live` while the old server still serves copies everything and marks the shops
   *arriving* in Redis: the gateways stream them but answer their ingest and decisions 503
   ("being moved here"), which order systems and PCs retry;
2. the order systems and PCs are pointed at the gateways; the old server is stopped;
3. `migrate` again copies everything new since the first pass (events, with their numbers;
   token or secret rotations; shops removed) and opens the shops on the gateways.
Every pass records, per shop, what it copied (`Marks`): the next pass copies only what is new,
keeps a token rotated on the target since (never brings back one it replaced), and removes from
the target the shops it copied that the source no longer has. A shop the target took events for
since (it was never marked, or was opened) is left alone and reported: nothing is renumbered.

The way back (`--from redis://… --to sqlite:DIR`) works the same way into a data folder no server
is serving; stop the gateways' order systems first, or run it again for what came in meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from notifier.core.atomic import write_atomic
from notifier.server import order_states
from notifier.server.deliveries import CallbackError, check_callback_url
from notifier.server.redis_store import (
    PREFIX,
    SHOPS_KEY,
    RedisEventStore,
    callbacks_key,
    callbacks_tries_key,
    decode_entry,
    idem_key,
    log_key,
    meta_key,
    nonce_key,
    order_key,
)
from notifier.server.store import (
    IDEMPOTENCY_KEEP_S,
    NONCE_KEEP_S,
    DataFolderBusy,
    EventStore,
    claim_data_folder,
)

PAGE = 1000  # events per round trip


@dataclass(frozen=True)
class ShopCopy:
    name: str
    token_hash: str
    secret: str
    identity: str
    created_at: float
    last_seq: int
    pruned_through: int
    callback_url: str | None
    status: str = "open"  # open or closed (shop_state.py), and the event that made it so
    status_seq: int = 0


@dataclass(frozen=True)
class Marks:
    """What the last pass copied of a shop into this store, from which store."""

    source: str  # the source's store id
    through: int  # its last seq
    token_hash: str
    secret_digest: str


@dataclass
class Moved:
    shop: str
    events: int = 0
    skipped: str = ""  # why the shop was not copied, if it was not
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.skipped:
            return f"{self.shop}: {self.skipped}"
        return f"{self.shop}: " + "; ".join([f"{self.events} events copied", *self.notes])


class MigrationRefused(RuntimeError):
    """The move cannot start; the message is the sentence to print."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- the two stores, as a migration reads and writes them ------------------------------------


class SqliteSide:
    """A server's data folder. Read through a read-only connection (the old server may still be
    serving it); written only when no server serves it (its lock is held while writing)."""

    def __init__(self, data_dir: Path, *, target: bool):
        self.data_dir = Path(data_dir)
        path = self.data_dir / "events.sqlite3"
        self._lock = None
        if target:
            try:
                self._lock = claim_data_folder(self.data_dir)
            except DataFolderBusy:
                raise MigrationRefused(f"a server is serving {self.data_dir}: stop it before copying into it") from None
            EventStore(self.data_dir).close()  # creates or upgrades the schema
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS migrations (shop TEXT PRIMARY KEY, source TEXT NOT NULL, "
                            "through INTEGER NOT NULL, token_hash TEXT NOT NULL, secret_digest TEXT NOT NULL)")
        else:
            if not path.is_file():
                raise FileNotFoundError(f"no server store at {path}")
            self.db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        row = self.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        self.store_id = row[0] if row else ""
        self._columns = {r[1] for r in self.db.execute("PRAGMA table_info(shops)")}
        self._tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()

    # reading
    def shops(self) -> dict[str, ShopCopy]:
        url = "callback_url" if "callback_url" in self._columns else "NULL"
        status = "status, status_seq" if "status" in self._columns else "'open', 0"
        found = {}
        for name, hashed, created, last_seq, pruned, identity, callback, state, state_seq in self.db.execute(
                f"SELECT name, token_hash, created_at, last_seq, pruned_through, identity, {url}, {status} FROM shops"):
            secret_file = self.data_dir / "ingest-secrets" / name
            secret = secret_file.read_text(encoding="utf-8").strip() if secret_file.is_file() else ""
            found[name] = ShopCopy(name, hashed, secret, identity or self.store_id, created, last_seq, pruned, callback,
                                   state, state_seq)
        return found

    def events_after(self, shop: str, after: int) -> Iterator[list[tuple[int, float, str, str | None]]]:
        nonce = "nonce" if "nonce" in {r[1] for r in self.db.execute("PRAGMA table_info(events)")} else "NULL"
        while True:
            rows = self.db.execute(f"SELECT seq, received_at, body, {nonce} FROM events WHERE shop=? AND seq>? "
                                   "ORDER BY seq LIMIT ?", (shop, after, PAGE)).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def keys(self, shop: str, now: float) -> list[tuple[str, int, str, float]]:
        return self.db.execute("SELECT key, seq, body_hash, created_at FROM idempotency WHERE shop=? AND created_at>=?",
                               (shop, now - IDEMPOTENCY_KEEP_S)).fetchall()

    def nonces(self, shop: str, now: float) -> list[tuple[str, float]]:
        used = "SELECT nonce, created_at FROM nonces WHERE shop=:shop AND created_at>=:since"
        if "nonce" in {r[1] for r in self.db.execute("PRAGMA table_info(events)")}:
            used += (" UNION ALL SELECT nonce, received_at FROM events WHERE shop=:shop AND received_at>=:since"
                     " AND nonce IS NOT NULL")
        return self.db.execute(used, {"shop": shop, "since": now - NONCE_KEEP_S}).fetchall()

    def states(self, shop: str) -> list[tuple[str, str, int, float]]:
        if "order_states" not in self._tables:
            return []
        return self.db.execute("SELECT order_id, state, seq, updated_at FROM order_states WHERE shop=?",
                               (shop,)).fetchall()

    def deliveries(self, shop: str) -> list[tuple[str, str, bytes, int, float]]:
        if "callback_deliveries" not in self._tables:
            return []
        return [(e, u, bytes(b), a, c) for e, u, b, a, c in self.db.execute(
            "SELECT event_id, url, body, attempts, created_at FROM callback_deliveries WHERE shop=?", (shop,))]

    # writing (target)
    def marks(self, shop: str) -> Marks | None:
        row = self.db.execute("SELECT source, through, token_hash, secret_digest FROM migrations WHERE shop=?",
                              (shop,)).fetchone()
        return Marks(*row) if row else None

    def marked_from(self, source: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT shop FROM migrations WHERE source=?", (source,))]

    def write_shop(self, shop: ShopCopy, marks: Marks, *, arriving: bool) -> None:
        del arriving  # a data folder is copied into only while no server serves it
        self.db.execute(
            "INSERT INTO shops(name, token_hash, created_at, last_seq, pruned_through, identity, callback_url, status, "
            "status_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "token_hash=excluded.token_hash, last_seq=excluded.last_seq, pruned_through=excluded.pruned_through, "
            "identity=excluded.identity, callback_url=excluded.callback_url, status=excluded.status, "
            "status_seq=excluded.status_seq",
            (shop.name, shop.token_hash, shop.created_at, shop.last_seq, shop.pruned_through, shop.identity,
             shop.callback_url, shop.status, shop.status_seq))
        write_atomic(self.data_dir / "ingest-secrets" / shop.name, shop.secret.encode(), mode=0o600)
        self.db.execute("INSERT OR REPLACE INTO migrations VALUES (?, ?, ?, ?, ?)",
                        (shop.name, marks.source, marks.through, marks.token_hash, marks.secret_digest))

    def write_events(self, shop: str, identity: str, rows: list[tuple[int, float, str, str | None]]) -> None:
        del identity
        self.db.executemany("INSERT OR IGNORE INTO events(shop, seq, received_at, body, nonce) VALUES (?, ?, ?, ?, ?)",
                            [(shop, *row) for row in rows])

    def write_extras(self, shop: ShopCopy, keys, nonces, states, deliveries, now: float) -> None:
        self.db.executemany("INSERT OR IGNORE INTO idempotency(shop, key, seq, body_hash, created_at) "
                            "VALUES (?, ?, ?, ?, ?)", [(shop.name, *k) for k in keys])
        self.db.executemany("INSERT OR IGNORE INTO nonces(shop, nonce, created_at) VALUES (?, ?, ?)",
                            [(shop.name, *n) for n in nonces])
        self.db.executemany("INSERT OR REPLACE INTO order_states(shop, order_id, state, seq, updated_at) "
                            "VALUES (?, ?, ?, ?, ?)", [(shop.name, *s) for s in states])
        self.db.executemany("INSERT OR IGNORE INTO callback_deliveries(event_id, shop, url, body, attempts, next_at, "
                            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(e, shop.name, u, b, a, now, c) for e, u, b, a, c in deliveries])

    def remove(self, shop: str) -> None:
        store = EventStore(self.data_dir)
        try:
            store.remove_shop(shop)
        finally:
            store.close()
        self.db.execute("DELETE FROM migrations WHERE shop=?", (shop,))


class RedisSide:
    """A Redis store (a cluster too: every command names one shop's keys)."""

    def __init__(self, store: RedisEventStore):
        self.store, self.client, self.store_id = store, store.client, store.store_id
        self._extras: dict[str, dict[str, list]] | None = None

    def close(self) -> None:
        pass  # the caller owns the store

    # reading
    def shops(self) -> dict[str, ShopCopy]:
        found = {}
        for raw in self.client.smembers(SHOPS_KEY):
            name = raw.decode()
            fields = self.client.hmget(meta_key(name), "token_hash", "secret", "identity", "created_at", "last_seq",
                                       "pruned_through", "callback_url", "status", "status_seq")
            if fields[0] is None:
                continue
            text = [f.decode() if f is not None else None for f in fields]
            found[name] = ShopCopy(name, text[0], text[1] or "", text[2] or "", float(text[3] or 0), int(text[4] or 0),
                                   int(text[5] or 0), text[6], text[7] or "open", int(text[8] or 0))
        return found

    def events_after(self, shop: str, after: int) -> Iterator[list[tuple[int, float, str, str | None]]]:
        while True:
            entries = self.client.xrange(log_key(shop), f"{after + 1}-0", "+", count=PAGE)
            if not entries:
                return
            rows = []
            for entry_id, fields in entries:
                seq, at, _event, _identity = decode_entry(entry_id, fields)
                rows.append((seq, at, fields[b"ev"].decode(), None))
            yield rows
            after = rows[-1][0]

    def _scan(self) -> dict[str, dict[str, list]]:
        """Idempotency keys, used nonces and order states of every shop, in one pass over the
        keys (their names hold the shop; Redis keeps them as keys that expire by themselves)."""
        if self._extras is None:
            found: dict[str, dict[str, list]] = {}
            for raw in self.client.scan_iter(match=f"{PREFIX}:{{*}}:*", count=1000):
                name = raw.decode()
                shop, _, rest = name[len(PREFIX) + 2:].partition("}:")
                kind, _, rest = rest.partition(":")
                if kind in ("idem", "nonce", "order"):
                    found.setdefault(shop, {"idem": [], "nonce": [], "order": []})[kind].append((rest, raw))
            self._extras = found
        return self._extras

    def keys(self, shop: str, now: float) -> list[tuple[str, int, str, float]]:
        found = []
        for key, raw in self._scan().get(shop, {}).get("idem", []):
            value = self.client.get(raw)
            if value:
                seq, body_hash, at, _identity = value.decode().split("|", 3)
                found.append((key, int(seq), body_hash, float(at)))
        return found

    def nonces(self, shop: str, now: float) -> list[tuple[str, float]]:
        found = []
        for nonce, raw in self._scan().get(shop, {}).get("nonce", []):
            left = self.client.ttl(raw)
            if left and left > 0:
                found.append((nonce, now - (NONCE_KEEP_S - left)))
        return found

    def states(self, shop: str) -> list[tuple[str, str, int, float]]:
        found = []
        for order_id, raw in self._scan().get(shop, {}).get("order", []):
            value, left = self.client.get(raw), self.client.ttl(raw)
            if value:
                state, seq, _identity = value.decode().split("|", 2)
                found.append((order_id, state, int(seq), time.time() - (order_states.KEEP_S - max(left, 0))))
        return found

    def deliveries(self, shop: str) -> list[tuple[str, str, bytes, int, float]]:
        from notifier.server.deliveries import callback_body

        records = self.client.hgetall(callbacks_key(shop))
        tries = self.client.hgetall(callbacks_tries_key(shop))
        found = []
        for event_id, raw in records.items():
            record = json.loads(raw)
            body = record["body"].encode() if "body" in record else callback_body(
                shop, event_id.decode(), int(record["seq"]), json.loads(record["ev"]))
            found.append((event_id.decode(), record["url"], body, int(tries.get(event_id, 0)), float(record["at"])))
        return found

    # writing (target)
    def marks(self, shop: str) -> Marks | None:
        fields = self.client.hmget(meta_key(shop), "migrated_from", "migrated_through", "migrated_token",
                                   "migrated_secret")
        if fields[0] is None:
            return None
        return Marks(fields[0].decode(), int(fields[1]), fields[2].decode(), fields[3].decode())

    def marked_from(self, source: str) -> list[str]:
        names = [raw.decode() for raw in self.client.smembers(SHOPS_KEY)]
        return [name for name in names if (self.client.hget(meta_key(name), "migrated_from") or b"").decode() == source]

    def write_shop(self, shop: ShopCopy, marks: Marks, *, arriving: bool) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(meta_key(shop.name), mapping={
            "token_hash": shop.token_hash, "secret": shop.secret, "identity": shop.identity,
            "created_at": repr(shop.created_at), "last_seq": shop.last_seq, "pruned_through": shop.pruned_through,
            "status": shop.status, "status_seq": shop.status_seq, "migrated_from": marks.source, "migrated_through": marks.through, "migrated_token": marks.token_hash,
            "migrated_secret": marks.secret_digest,
        })
        if arriving:
            pipe.hset(meta_key(shop.name), "arriving", "1")
        else:
            pipe.hdel(meta_key(shop.name), "arriving")
        pipe.sadd(SHOPS_KEY, shop.name)
        pipe.execute()
        url = shop.callback_url
        if url:
            try:
                self.store.set_callback(shop.name, url)
            except CallbackError:
                pass  # reported by the caller
        else:
            self.store.set_callback(shop.name, None)

    def write_events(self, shop: str, identity: str, rows: list[tuple[int, float, str, str | None]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for seq, received_at, body, _nonce in rows:
            pipe.xadd(log_key(shop), {"at": repr(received_at), "ev": body, "id": identity}, id=f"{seq}-0")
        pipe.execute()

    def write_extras(self, shop: ShopCopy, keys, nonces, states, deliveries, now: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, seq, body_hash, at in keys:
            ttl = int(at + IDEMPOTENCY_KEEP_S - now) + 1
            if ttl > 0:
                pipe.set(idem_key(shop.name, key), f"{seq}|{body_hash}|{at!r}|{shop.identity}", ex=ttl, nx=True)
        for nonce, at in nonces:
            ttl = int(at + NONCE_KEEP_S - now) + 1
            if ttl > 0:
                pipe.set(nonce_key(shop.name, nonce), "1", ex=ttl, nx=True)
        for order_id, state, seq, at in states:
            ttl = int(at + order_states.KEEP_S - now) + 1
            if ttl > 0:
                pipe.set(order_key(shop.name, order_id), f"{state}|{seq}|{shop.identity}", ex=ttl)
        pipe.execute()
        for event_id, url, body, attempts, created_at in deliveries:
            self.store.import_delivery(shop.name, event_id, url, body, attempts, created_at)

    def remove(self, shop: str) -> None:
        self.store.remove_shop(shop)  # its keys, its callbacks and its place in both indexes


# -- the move --------------------------------------------------------------------------------


def migrate(source: SqliteSide | RedisSide, target: SqliteSide | RedisSide, *, live: bool = False,
            say: Callable[[str], None] = lambda _: None, now: float | None = None) -> list[Moved]:
    """Copy every shop of `source` into `target` (everything new since the last pass), remove
    from `target` the shops an earlier pass copied that `source` no longer has. With `live`
    (the source still serves), the shops stay *arriving* on the target (their ingest refused
    503 there) until a pass without it."""
    now = time.time() if now is None else now
    shops = source.shops()
    results = []
    for name in sorted(shops):
        moved = _move_shop(source, target, shops[name], live, now)
        results.append(moved)
        say(moved.line())
    for name in sorted(set(target.marked_from(source.store_id)) - set(shops)):
        target.remove(name)
        results.append(Moved(name, notes=["removed: the source no longer has it"]))
        say(results[-1].line())
    return results


def _move_shop(source, target, shop: ShopCopy, live: bool, now: float) -> Moved:
    moved = Moved(shop.name)
    existing = target.shops().get(shop.name)
    marks = target.marks(shop.name)
    have = 0
    if existing is not None:
        if existing.identity != shop.identity:
            moved.skipped = "skipped: the target has another shop by this name"
            return moved
        if marks is None or marks.source != source.store_id:
            moved.skipped = "skipped: the target has this shop, but not from this source"
            return moved
        have = existing.last_seq
        if have != marks.through:
            moved.skipped = (f"skipped: the target took {have - marks.through} events of its own since the last "
                             "pass (it was not held as arriving); nothing was renumbered, copy its events by hand")
            return moved
        if shop.last_seq < have:
            moved.skipped = "skipped: the target is ahead of this store"
            return moved
        shop = _keep_rotations(shop, existing, marks, moved)
    if shop.callback_url:
        try:
            check_callback_url(shop.callback_url)
        except CallbackError as exc:
            moved.notes.append(f"callback URL not copied ({exc})")
            shop = ShopCopy(**{**shop.__dict__, "callback_url": None})
    # Events first, the shop's last_seq after: a crash in between leaves the target as it was
    # (its last_seq) plus entries a rerun skips.
    for rows in source.events_after(shop.name, have):
        target.write_events(shop.name, shop.identity, rows)
        moved.events += len(rows)
    target.write_extras(shop, source.keys(shop.name, now), source.nonces(shop.name, now),
                        source.states(shop.name), source.deliveries(shop.name), now)
    target.write_shop(shop, Marks(source.store_id, shop.last_seq, shop.token_hash, digest(shop.secret)),
                      arriving=live)
    if live:
        moved.notes.append("held as arriving (ingest answered 503 there) until a pass without --live")
    if isinstance(target, RedisSide):
        target.store.announce(shop.name)
    return moved


def _keep_rotations(shop: ShopCopy, existing: ShopCopy, marks: Marks, moved: Moved) -> ShopCopy:
    """The token and secret to write: the source's when it rotated them since the last pass and
    the target did not; the target's when it rotated them (never bring back what it replaced)."""
    changes: dict[str, Any] = {}
    if existing.token_hash != marks.token_hash:
        changes["token_hash"] = existing.token_hash
        moved.notes.append("kept the client token rotated on the target")
    elif shop.token_hash != marks.token_hash:
        moved.notes.append("client token rotated on the source: copied")
    if digest(existing.secret) != marks.secret_digest:
        changes["secret"] = existing.secret
        moved.notes.append("kept the ingest secret rotated on the target")
    elif digest(shop.secret) != marks.secret_digest:
        moved.notes.append("ingest secret rotated on the source: copied")
    return ShopCopy(**{**shop.__dict__, **changes}) if changes else shop


def source_is_served(data_dir: Path) -> bool:
    """True when a server holds the data folder's lock (it is serving it right now)."""
    if not (Path(data_dir) / "server.lock").exists() or not os.access(data_dir, os.W_OK):
        return False
    try:
        claim_data_folder(Path(data_dir)).close()
    except DataFolderBusy:
        return True
    return False
