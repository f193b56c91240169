"""Signed callbacks to a shop's own back end when an order is accepted or rejected from a PC.

Where each shop's back end listens is kept in `callbacks.json` in the data folder (set with
`notifier server set-callback SHOP --callback-url URL`), apart from the event store: the URL is
not a credential and the store has its own life. Deliveries wait in `callbacks.sqlite3`, one row
per event id (so an event is queued once, whatever happens), and a single task on the server's
event loop sends them: a POST of a JSON body signed exactly like ingest requests, with the
shop's ingest secret, and retried with backoff until the back end answers 2xx. The receiver can
verify the signature with the same code it signs its ingest calls with (docs/server.md), and
deduplicates by `X-Notifier-Event-Id` (a 2xx lost on the way back means one more delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from notifier.core import protocol
from notifier.core.atomic import write_atomic

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Notifier-Event-Id"
TARGETS_FILE = "callbacks.json"
OUTBOX_FILE = "callbacks.sqlite3"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 300.0
GIVE_UP_AFTER_S = 3 * 86400.0
KEEP_DONE_S = 7 * 86400.0  # delivered (or dropped) rows are kept this long, then forgotten  # an event no back end took in three days is dropped, with a log
REQUEST_TIMEOUT_S = 10.0
BATCH = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    shop TEXT NOT NULL,
    url TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(next_at) WHERE state = 'waiting';
"""


class CallbackError(ValueError):
    """A callback URL that cannot be used; the message is the sentence to print."""


def check_callback_url(url: str) -> str:
    problem = CallbackError(f"the callback URL {url!r} must be an http:// or https:// address")
    try:
        url.encode("utf-8")  # an undecodable argv byte cannot be written or sent
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise problem
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise problem from None
    return url.strip()


class CallbackTargets:
    """Per-shop callback URLs, in a small JSON file written atomically."""

    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / TARGETS_FILE

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def url(self, shop: str) -> str | None:
        return self._read().get(shop)

    def set(self, shop: str, url: str | None) -> None:
        targets = self._read()
        if url:
            targets[shop] = check_callback_url(url)
        else:
            targets.pop(shop, None)
        write_atomic(self.path, (json.dumps(targets, indent=2) + "\n").encode("utf-8"))


class CallbackOutbox:
    def __init__(self, data_dir: Path | str, *, clock: Callable[[], float] = time.time):
        self._clock = clock
        # On a Redis store the data folder holds only this gateway's callback outbox and targets:
        # nothing else creates it then.
        Path(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(Path(data_dir) / OUTBOX_FILE, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("UPDATE deliveries SET state='waiting' WHERE state='sending'")

    def close(self) -> None:
        self._db.close()

    def enqueue(self, shop: str, event_id: str, url: str, body: bytes) -> bool:
        """Queue one delivery; False if this event id was queued before."""
        now = self._clock()
        return self._db.execute(
            "INSERT OR IGNORE INTO deliveries(event_id, shop, url, body, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (event_id, shop, url, body, now, now)).rowcount == 1

    def due(self, limit: int = BATCH) -> list[tuple[int, str, str, str, bytes, int, float]]:
        return self._db.execute(
            "SELECT id, event_id, shop, url, body, attempts, created_at FROM deliveries "
            "WHERE state='waiting' AND next_at <= ? ORDER BY id LIMIT ?", (self._clock(), limit)).fetchall()

    def next_due_in(self) -> float | None:
        row = self._db.execute("SELECT MIN(next_at) FROM deliveries WHERE state='waiting'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._clock())

    def mark_done(self, row_id: int) -> None:
        self._db.execute("UPDATE deliveries SET state='done', done_at=?, last_error=NULL, "
                         "attempts=attempts+1 WHERE id=?", (self._clock(), row_id))

    def mark_retry(self, row_id: int, attempts: int, error: str, first_retry_s: float) -> None:
        delay = min(MAX_RETRY_S, first_retry_s * 2 ** min(attempts, 20))
        self._db.execute("UPDATE deliveries SET attempts=attempts+1, last_error=?, next_at=? WHERE id=?",
                         (error[:300], self._clock() + delay, row_id))

    def drop(self, row_id: int, why: str) -> None:
        self._db.execute("UPDATE deliveries SET state='dropped', last_error=?, done_at=? WHERE id=?",
                         (why[:300], self._clock(), row_id))

    def prune(self) -> int:
        return self._db.execute("DELETE FROM deliveries WHERE state != 'waiting' AND done_at < ?",
                                (self._clock() - KEEP_DONE_S,)).rowcount

    def deliveries(self) -> list[tuple[str, str, int]]:
        """(event id, state, attempts), oldest first: for tests and diagnostics."""
        return [tuple(r) for r in self._db.execute(
            "SELECT event_id, state, attempts FROM deliveries ORDER BY id").fetchall()]


def callback_body(shop: str, event_id: str, seq: int, event: dict[str, Any]) -> bytes:
    """What the shop's back end receives (documented in docs/server.md)."""
    return json.dumps({
        "event_id": event_id, "shop": shop, "seq": seq, "kind": event["kind"],
        "order_id": event["order_id"], "reason": event.get("text"),
        "occurred_at": event.get("occurred_at"),
    }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CallbackDeliverer:
    """Sends the outbox from the server's event loop; `wake` after queueing something."""

    def __init__(self, outbox: CallbackOutbox, secret_of: Callable[[str], str | None], *,
                 first_retry_s: float = FIRST_RETRY_S):
        self.outbox = outbox
        self._secret_of = secret_of
        self.first_retry_s = first_retry_s
        self._wakeup = asyncio.Event()
        self.delivered = 0

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            pruned_at = 0.0
            while True:
                if time.monotonic() - pruned_at > 3600:
                    pruned_at = time.monotonic()
                    self.outbox.prune()
                for row in self.outbox.due():
                    await self._deliver(session, *row)
                wait = self.outbox.next_due_in()
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 3600 if wait is None else max(wait, 0.01))

    async def _deliver(self, session: aiohttp.ClientSession, row_id: int, event_id: str, shop: str,
                       url: str, body: bytes, attempts: int, created_at: float) -> None:
        if time.time() - created_at > GIVE_UP_AFTER_S:
            log.warning("callback %s to %s dropped: no 2xx in %d attempts", event_id, url, attempts)
            self.outbox.drop(row_id, "gave up")
            return
        secret = self._secret_of(shop)
        if secret is None:
            self.outbox.drop(row_id, "the shop was removed")
            return
        headers = dict(protocol.signed_headers(secret, body), **{
            EVENT_ID_HEADER: event_id, "Content-Type": "application/json"})
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.outbox.mark_retry(row_id, attempts, f"{type(exc).__name__}: {exc}", self.first_retry_s)
            log.info("callback %s to %s failed: %s; retrying", event_id, url, exc)
            return
        if 200 <= status < 300:
            self.outbox.mark_done(row_id)
            self.delivered += 1
        else:
            self.outbox.mark_retry(row_id, attempts, f"HTTP {status}", self.first_retry_s)
            log.info("callback %s to %s answered %d; retrying", event_id, url, status)


class Callbacks:
    """The server's callback machinery: targets, outbox and deliverer, run with the app."""

    def __init__(self, data_dir: Path | str, secret_of: Callable[[str], str | None]):
        self.targets = CallbackTargets(data_dir)
        self.outbox = CallbackOutbox(data_dir)
        self.deliverer = CallbackDeliverer(self.outbox, secret_of)

    def queue(self, shop: str, event_id: str, seq: int, event: dict[str, Any]) -> bool:
        """Queue the callback for this event if the shop has a back end to tell; True if so."""
        url = self.targets.url(shop)
        if not url:
            return False
        self.outbox.enqueue(shop, event_id, url, callback_body(shop, event_id, seq, event))
        self.deliverer.wake()
        return True

    async def run_with(self, _app) -> Any:
        """For `app.cleanup_ctx`: deliver while the app runs."""
        task = asyncio.ensure_future(self.deliverer.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.outbox.close()
