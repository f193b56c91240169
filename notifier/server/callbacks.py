"""Signed callbacks to a shop's own back end when an order is accepted or rejected from a PC.

Each shop's callback URL is kept in the server's store (set with `notifier server set-callback
SHOP --callback-url URL`, against `--data-dir` or `--store` like every admin command). The store
queues a decision's delivery in the same transaction (SQLite) or script (Redis) that appends the
decision, so a decision answered 201 is always called back, whatever crashes after.

Every server process runs one `CallbackDeliverer`: it claims due deliveries from the store for
a lease (`LEASE_S`; on Redis any gateway may claim, and a claim is atomic, so one event is sent
by one gateway at a time; one that dies holding a claim only delays it until the lease ends),
POSTs the JSON body signed exactly like ingest requests with the shop's ingest secret, and
retries with backoff until the back end answers 2xx, for up to three days. The receiver
verifies the signature with the same code it signs its ingest calls with (docs/server.md) and
deduplicates by `X-Notifier-Event-Id` (a 2xx lost on the way back means one more delivery).

An older server kept the URLs in `callbacks.json` and its queue in `callbacks.sqlite3` in the
data folder: `import_legacy` moves both into the store once, at start, and renames the files
to `*.imported`.
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
from notifier.server.deliveries import (  # noqa: F401 - the names callers knew from here
    BATCH,
    EVENT_ID_HEADER,
    FIRST_RETRY_S,
    GIVE_UP_AFTER_S,
    LEASE_S,
    REQUEST_TIMEOUT_S,
    CallbackError,
    Delivery,
    callback_body,
    callback_where,
    check_callback_url,
    retry_delay,
)
from notifier.server.destinations import CheckedResolver, Destinations
from notifier.server.log_limits import LimitedLog
from notifier.server.store import ShopError
from notifier.server.store_calls import StoreCalls
from notifier.server.supervision import Supervised

log = logging.getLogger(__name__)

LEGACY_TARGETS_FILE = "callbacks.json"
LEGACY_OUTBOX_FILE = "callbacks.sqlite3"
IMPORTED_SUFFIX = ".imported"
CLAIM_MARGIN_S = 0.5  # a request ends this long before its claim does
PER_SHOP_IN_FLIGHT = 4  # requests to one shop's back end at once: a dead one holds no more than these
MAX_IN_FLIGHT = 256  # requests on their way at once, all shops together
MAX_ANSWER_HEADERS = 100  # of a back end's answer (each at most 8 KiB, aiohttp's default)
SHARED_POLL_S = 5.0  # on a shared store: how often to look for what another gateway left behind
REINDEX_EVERY_S = 600.0  # on a shared store: how often the due index is rebuilt (store.reindex_deliveries)
REINDEX_WAIT_S = 60.0  # a rebuild reads every shop with a callback URL: it may take longer than a request


def import_legacy(store: Any, data_dir: Path | str) -> tuple[int, int]:
    """Move an older server's `callbacks.json` URLs and `callbacks.sqlite3` deliveries not yet
    sent into the store, then rename both files to `*.imported`. Returns (URLs, deliveries)."""
    data_dir = Path(data_dir)
    urls = deliveries = 0
    targets = data_dir / LEGACY_TARGETS_FILE
    if targets.is_file():
        try:
            found = json.loads(targets.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s, not imported: %s", targets, exc)
            found = None
        if isinstance(found, dict):
            for shop, url in found.items():
                if isinstance(shop, str) and isinstance(url, str) and not store.callback_url(shop):
                    try:
                        store.set_callback(shop, url)
                        urls += 1
                    except (ShopError, CallbackError) as exc:
                        log.warning("callback URL of %r not imported: %s", shop, exc)
            targets.rename(targets.with_name(targets.name + IMPORTED_SUFFIX))
    outbox = data_dir / LEGACY_OUTBOX_FILE
    if outbox.is_file():
        db = sqlite3.connect(outbox)
        try:
            rows = db.execute("SELECT event_id, shop, url, body, attempts, created_at FROM deliveries "
                              "WHERE state IN ('waiting', 'sending') ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            log.warning("cannot read %s, not imported: %s", outbox, exc)
            rows = None
        finally:
            db.close()  # the last connection: SQLite folds the WAL back and removes it
        if rows is not None:
            for event_id, shop, url, body, attempts, created_at in rows:
                deliveries += store.import_delivery(shop, event_id, url, bytes(body), attempts, created_at)
            outbox.rename(outbox.with_name(outbox.name + IMPORTED_SUFFIX))
    if urls or deliveries:
        log.info("imported %d callback URLs and %d queued callbacks from %s", urls, deliveries, data_dir)
    return urls, deliveries


class CallbackDeliverer:
    """Sends the store's due deliveries from the server's event loop; `wake` after queueing.

    Whatever goes wrong with one delivery (a URL the resolver refuses, TLS, DNS, an answer that
    never ends, the store failing to record the outcome) stays with that delivery: it is retried
    with backoff, and logged at most once a minute per shop. The loop itself runs supervised
    (supervision.py), so nothing one shop does can end callbacks for the others. Each shop has
    at most PER_SHOP_IN_FLIGHT requests on their way, and nothing waits for any of them to end,
    so a back end that hangs delays only its own shop. Every store call goes through
    StoreCalls: on Redis the loop never waits on the network."""

    def __init__(self, store: Any, calls: StoreCalls, *, first_retry_s: float = FIRST_RETRY_S,
                 lease_s: float = LEASE_S, clock: Callable[[], float] = time.time,
                 destinations: Destinations | None = None):
        self.store = store
        self.calls = calls
        self.destinations = destinations or Destinations()
        self.first_retry_s = first_retry_s
        self.lease_s = lease_s
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._log = LimitedLog(log)
        self._in_flight: dict[str, int] = {}  # requests on their way, per shop
        self.delivered = 0

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        # An answer is never read, so never inflated either; its headers are bounded in number.
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, limit_per_host=0,
                                         resolver=CheckedResolver(self.destinations))
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False,
                                         auto_decompress=False, max_headers=MAX_ANSWER_HEADERS) as session:
            sending: set[asyncio.Task] = set()
            try:
                await self._claim_and_send(session, sending)
            finally:
                for task in sending:
                    task.cancel()
                await asyncio.gather(*sending, return_exceptions=True)

    async def _claim_and_send(self, session: aiohttp.ClientSession, sending: set[asyncio.Task]) -> None:
        """Claim what is due for shops with room, start sending each at once, and come back when
        one finishes (its shop has room again), a decision was stored, or the next one is due.
        Nothing waits for a delivery to end: a back end that hangs holds PER_SHOP_IN_FLIGHT
        requests of its own shop's queue, never the others'."""
        shared = getattr(self.store, "shared", False)
        await self._store_step("release", self.store.release_claims)
        next_reindex = 0.0
        while True:
            self._wakeup.clear()
            if shared and time.monotonic() >= next_reindex:
                await self._store_step("reindex", self.store.reindex_deliveries, wait_s=REINDEX_WAIT_S)
                next_reindex = time.monotonic() + REINDEX_EVERY_S
            room = MAX_IN_FLIGHT - len(sending)
            claimed, next_at = [], None
            if room > 0:
                try:
                    claimed, next_at = await self.calls(self.store.claim_deliveries, self.lease_s, room,
                                                        busy=dict(self._in_flight), per_shop=PER_SHOP_IN_FLIGHT)
                except Exception as exc:  # noqa: BLE001 - the store is down: try again later
                    self._log.warning("claim", "cannot read the callback queue: %s", exc)
                    next_at = self._clock() + 5.0
            for delivery in claimed:
                self._in_flight[delivery.shop] = self._in_flight.get(delivery.shop, 0) + 1
                task = asyncio.ensure_future(self._deliver(session, delivery))
                sending.add(task)
                task.add_done_callback(lambda done, shop=delivery.shop: self._sent(done, shop, sending))
            if claimed and next_at is not None and next_at <= self._clock():
                continue  # more is due than one claim took
            wait = 3600.0 if next_at is None else max(0.01, next_at - self._clock())
            if shared:
                wait = min(wait, SHARED_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)

    def _sent(self, task: asyncio.Task, shop: str, sending: set[asyncio.Task]) -> None:
        sending.discard(task)
        left = self._in_flight.get(shop, 0) - 1
        if left > 0:
            self._in_flight[shop] = left
        else:
            self._in_flight.pop(shop, None)
        self._wakeup.set()  # the shop has room again: its next one may be due

    async def _store_step(self, name: str, fn: Callable[..., Any], *args: Any, wait_s: float | None = None) -> Any:
        """A store call whose failure is logged (once a minute) and otherwise ignored."""
        try:
            return await self.calls(fn, *args, wait_s=wait_s)
        except Exception as exc:  # noqa: BLE001 - each step is repeated later or by its lease's end
            self._log.warning(name, "callbacks: %s failed: %s", name, f"{type(exc).__name__}: {exc}")
            return None

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        """One attempt; never raises (but for cancellation): any failure is this delivery's."""
        try:
            await self._attempt(session, delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - contained: retried, logged once a minute per shop
            await self._retry(delivery, f"{type(exc).__name__}: {exc}")

    async def _attempt(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        event_id, shop = delivery.event_id, delivery.shop
        if self._clock() - delivery.created_at > GIVE_UP_AFTER_S:
            log.warning("callback %s of %s to %s dropped: no 2xx in %d attempts", event_id, shop,
                        callback_where(delivery.url), delivery.attempts)
            await self.calls(self.store.finish_delivery, delivery)
            return
        left = delivery.claim - self._clock() - CLAIM_MARGIN_S
        if left <= 0:
            return  # the lease ran out before its turn: it is due again, for any process
        secret = await self.calls(self.store.ingest_secret, shop)
        if secret is None:
            log.info("callback %s dropped: the shop %s was removed", event_id, shop)
            await self.calls(self.store.finish_delivery, delivery)
            return
        try:
            url = check_callback_url(delivery.url)
        except CallbackError as exc:
            await self._retry(delivery, str(exc))  # kept, with its reason, until the three days are over
            return
        # An IP literal is not resolved, so not checked by the resolver: checked here.
        refused = self.destinations.refusal(urlsplit(url).hostname or "")
        if refused:
            await self._retry(delivery, f"refused: {refused}")
            return
        headers = {**protocol.callback_headers(secret, delivery.body, event_id, shop),
                   "Content-Type": "application/json"}
        left = delivery.claim - self._clock() - CLAIM_MARGIN_S
        try:
            # Never outlives the claim: after it, another process may be sending the same event.
            async with session.post(url, data=delivery.body, headers=headers, allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=max(0.1, min(REQUEST_TIMEOUT_S, left)))
                                    ) as response:
                # Only the status counts. The answer is never read: leaving this block closes
                # the connection with it unread, so a back end answering a gigabyte (or an answer
                # that never ends) costs nothing here.
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:  # UnicodeError is a ValueError
            await self._retry(delivery, f"{type(exc).__name__}: {exc}")
            return
        if 200 <= status < 300:
            await self.calls(self.store.finish_delivery, delivery)
            self.delivered += 1
            log.debug("callback %s of %s delivered after %d failed attempts", event_id, shop, delivery.attempts)
        elif 300 <= status < 400:
            await self._retry(delivery, f"HTTP {status}: redirects are not followed; set the final URL")
        else:
            await self._retry(delivery, f"HTTP {status}")

    async def _retry(self, delivery: Delivery, error: str) -> None:
        """Due again after the backoff, recorded with its reason; logged once a minute per shop."""
        delay = retry_delay(delivery.attempts, self.first_retry_s)
        self._log.warning(delivery.shop, "callbacks of %s to %s are failing (%s); retrying each with backoff",
                          delivery.shop, callback_where(delivery.url), error[:300])
        # If this fails too, the delivery stays claimed: due again when the lease ends.
        await self._store_step("record", self.store.retry_delivery, delivery, self._clock() + delay, error)


class Callbacks:
    """The server's callback machinery, run with the app: imports an older server's files once
    and delivers what the store has queued."""

    def __init__(self, store: Any, data_dir: Path | str, calls: StoreCalls, *, lease_s: float = LEASE_S,
                 destinations: Destinations | None = None):
        self.store = store
        self.data_dir = Path(data_dir)
        self.deliverer = CallbackDeliverer(store, calls, lease_s=lease_s, destinations=destinations)

    def wake(self) -> None:
        """A decision was just stored: look for its delivery now."""
        self.deliverer.wake()

    async def run_with(self, _app) -> Any:
        """For `app.cleanup_ctx`: deliver while the app runs."""
        try:
            await asyncio.to_thread(import_legacy, self.store, self.data_dir)
        except Exception as exc:  # noqa: BLE001 - the files stay where they are for the next start
            log.warning("callbacks from %s not imported: %s", self.data_dir, exc)
        loops = Supervised()
        loops.start("callback delivery", self.deliverer.run)
        yield
        await loops.stop()
