"""`notifier server migrate --from sqlite:DIR --to redis://…`: move a single-process server's
shops and events into a Redis store, keeping what clients and order systems hold.

Kept: sequence numbers, each shop's store identity (so a client's cursor resumes on the new
gateways as if nothing happened), token hashes (the tokens keep working), ingest secrets,
`pruned_through`, creation times, callback URLs and callbacks not delivered yet, and
idempotency keys still inside their window (a retry
that crosses the move is still recognised). Used nonces are copied too, so a signed request
cannot be replayed against the new store within the replay window.

Running it again for a shop already copied (same identity) copies only the events after the
ones Redis has: copy once while the old server still runs, point the order systems and the
clients at the gateways, then run it once more for the tail. A shop that exists in Redis under
another identity is left alone and reported.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from notifier.server.redis_store import (
    SHOPS_KEY,
    RedisEventStore,
    idem_key,
    log_key,
    meta_key,
    nonce_key,
)
from notifier.server.store import IDEMPOTENCY_KEEP_S, NONCE_KEEP_S

PAGE = 1000  # events per pipeline


@dataclass
class Moved:
    shop: str
    events: int
    skipped: str = ""  # why the shop was not copied, if it was not


def migrate(data_dir: Path, target: RedisEventStore, *, say: Callable[[str], None] = lambda _: None,
            now: float | None = None) -> list[Moved]:
    now = time.time() if now is None else now
    path = Path(data_dir) / "events.sqlite3"
    if not path.is_file():
        raise FileNotFoundError(f"no server store at {path}")
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)  # read only: the old server may run
    try:
        shops = db.execute(
            "SELECT name, token_hash, created_at, last_seq, pruned_through, identity FROM shops ORDER BY name"
        ).fetchall()
        store_id = db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        results = []
        for name, hashed, created, last_seq, pruned, identity in shops:
            identity = identity or (store_id[0] if store_id else "")
            secret_file = Path(data_dir) / "ingest-secrets" / name
            secret = secret_file.read_text(encoding="utf-8").strip() if secret_file.is_file() else ""
            results.append(_move_shop(db, target, name, hashed, secret, created, last_seq, pruned, identity, now))
            say(f"{name}: {results[-1].skipped or f'{results[-1].events} events copied'}")
        return results
    finally:
        db.close()


def _move_shop(db, target: RedisEventStore, name, hashed, secret, created, last_seq, pruned, identity, now) -> Moved:
    client = target.client
    existing = client.hmget(meta_key(name), "identity", "last_seq")
    if existing[0] is not None and existing[0].decode() != identity:
        return Moved(name, 0, skipped="skipped: Redis has another shop by this name")
    have = int(existing[1] or 0)
    if have > last_seq:
        return Moved(name, 0, skipped="skipped: Redis is ahead of this store")
    copied = 0
    after = have
    while True:
        rows = db.execute("SELECT seq, received_at, body FROM events WHERE shop=? AND seq>? ORDER BY seq LIMIT ?",
                          (name, after, PAGE)).fetchall()
        if not rows:
            break
        pipe = client.pipeline(transaction=False)
        for seq, received_at, body in rows:
            pipe.xadd(log_key(name), {"at": repr(received_at), "ev": body, "id": identity}, id=f"{seq}-0")
        pipe.execute()
        copied += len(rows)
        after = rows[-1][0]
    pipe = client.pipeline(transaction=False)
    pipe.hset(meta_key(name), mapping={
        "token_hash": hashed, "secret": secret, "identity": identity, "created_at": repr(created),
        "last_seq": last_seq, "pruned_through": pruned,
    })
    for key, seq, body_hash, at in db.execute(
        "SELECT key, seq, body_hash, created_at FROM idempotency WHERE shop=? AND created_at>=?",
        (name, now - IDEMPOTENCY_KEEP_S),
    ):
        ttl = int(at + IDEMPOTENCY_KEEP_S - now) + 1
        pipe.set(idem_key(name, key), f"{seq}|{body_hash}|{at!r}|{identity}", ex=ttl, nx=True)
    # Recent events carry their nonce in their row; a store from before kept them in `nonces`.
    used = "SELECT nonce, created_at FROM nonces WHERE shop=:shop AND created_at>=:since"
    if "nonce" in {row[1] for row in db.execute("PRAGMA table_info(events)")}:
        used += (" UNION ALL SELECT nonce, received_at FROM events WHERE shop=:shop AND received_at>=:since"
                 " AND nonce IS NOT NULL")
    for nonce, at in db.execute(used, {"shop": name, "since": now - NONCE_KEEP_S}):
        pipe.set(nonce_key(name, nonce), "1", ex=int(at + NONCE_KEEP_S - now) + 1, nx=True)
    pipe.sadd(SHOPS_KEY, name)
    pipe.execute()
    _move_callbacks(db, target, name)
    target.announce(name)
    return Moved(name, copied)


def _move_callbacks(db, target: RedisEventStore, name: str) -> None:
    """The shop's callback URL (unless Redis has one) and its callbacks not delivered yet (by
    event id: one copied twice stays one; one the old server still delivers meanwhile may reach
    the back end twice, which deduplicates by event id)."""
    if "callback_url" in {r[1] for r in db.execute("PRAGMA table_info(shops)")}:
        row = db.execute("SELECT callback_url FROM shops WHERE name=?", (name,)).fetchone()
        if row and row[0] and not target.callback_url(name):
            target.set_callback(name, row[0])
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='callback_deliveries'").fetchone():
        for event_id, url, body, attempts, created_at in db.execute(
                "SELECT event_id, url, body, attempts, created_at FROM callback_deliveries WHERE shop=?", (name,)):
            target.import_delivery(name, event_id, url, bytes(body), attempts, created_at)
