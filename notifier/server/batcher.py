"""Group commit of ingest (and decisions): requests that arrive together are stored together,
then fanned out, in order, with no `await` between storing and publishing on the local store.

Also the sky-take-out compatibility frames, which the fan-out publishes for the one shop
configured with `--skytakeout-shop`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from notifier.core import protocol
from notifier.server.config import ServerConfig
from notifier.server.hub import Hub
from notifier.server.store import Appending, EventStore, IngestResult
from notifier.server.store_calls import StoreCalls


def skytakeout_channel(shop: str) -> str:
    return "\x00skytakeout:" + shop  # cannot collide with a shop name


def skytakeout_frame(event: dict[str, Any]) -> str | None:
    """The event as a sky-take-out frame, or None for kinds that protocol does not have."""
    kind = {"new_order": 1, "reminder": 2}.get(event["kind"])
    if kind is None:
        return None
    order_id: int | str = int(event["order_id"]) if event["order_id"].isascii() and event["order_id"].isdigit() else event["order_id"]
    number = event.get("order_number") or event["order_id"]
    return json.dumps({"type": kind, "orderId": order_id, "content": f"订单号：{number}"}, ensure_ascii=False)


BATCH_LIMIT = 64  # requests per transaction: bounds how long one flush holds the loop
BUSY_WITHIN_S = 0.002  # "under load": the previous batch was stored less than this ago
SHARED_FLUSHES = 4  # batches on their way to a shared store at once (each a pipeline, one round trip)


def _fail_all(batch: list[tuple[Appending, asyncio.Future]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


class IngestBatcher:
    """Group commit: requests that arrive together are stored together.

    `submit` queues a request and schedules one flush; the flush appends the whole batch in one
    transaction, publishes each new event in order, and then answers the waiting requests. A
    lone request is flushed at the end of the current turn of the event loop (microseconds).
    Under load (the previous batch was stored a moment ago) the flush waits one more turn, whose
    poll of the sockets takes in the requests right behind, like a database's commit delay but
    without ever leaving the loop idle: a transaction costs about as much as five events, so
    fuller batches are most of what durability costs per event.

    On a shared store a batch is one pipeline sent from a worker thread (StoreCalls), at most
    SHARED_FLUSHES at once; what arrives meanwhile waits for the next one, which fills batches
    by itself. Nothing is published here then: the follower of the store's log does that.
    """

    def __init__(self, store: EventStore, hub: Hub, config: ServerConfig, calls: StoreCalls):
        self.store, self.hub, self.config, self.calls = store, hub, config, calls
        self.shared = bool(getattr(store, "shared", False))
        self._pending: list[tuple[Appending, asyncio.Future]] = []
        self._scheduled = False
        self._last_flush = 0.0
        self._flushing: set[asyncio.Task] = set()  # shared store: batches on their way
        self.batches = self.requests = 0  # mean batch size, in /healthz

    def submit(self, item: Appending) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((item, future))
        if self.shared:
            self._schedule_shared()
        elif not self._scheduled:
            self._scheduled = True
            if loop.time() - self._last_flush < BUSY_WITHIN_S:
                # Busy: one more turn of the loop first, whose poll of the sockets brings in the
                # requests already on their way (no timer, so the loop never waits idle).
                loop.call_soon(loop.call_soon, self._flush)
            else:
                loop.call_soon(self._flush)
        return future

    def _take_batch(self) -> list[tuple[Appending, asyncio.Future]]:
        batch, self._pending = self._pending[:BATCH_LIMIT], self._pending[BATCH_LIMIT:]
        self.batches += 1
        self.requests += len(batch)
        return batch

    def _flush(self) -> None:
        batch = self._take_batch()
        self._scheduled = bool(self._pending)
        if self._scheduled:
            asyncio.get_running_loop().call_soon(self._flush)
        self._last_flush = asyncio.get_running_loop().time()
        try:
            results = self.store.append_many([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of it (a 503 or 500)
            _fail_all(batch, exc)
            return
        for (item, future), result in zip(batch, results, strict=True):
            if isinstance(result, IngestResult) and not (result.duplicate or result.nonce_reused or result.outcome):
                if result.shop_closed:  # stored with the mark: sent with it (protocol.event_frame)
                    self.publish_stored(item.shop, result.seq, result.received_at,
                                        {**item.event, protocol.ARRIVED_WHILE_CLOSED: True}, result.identity)
                else:
                    self.publish_stored(item.shop, result.seq, result.received_at, item.event, result.identity,
                                        item.encoded)
            if not future.done():  # a request whose client left is still stored and published
                future.set_result(result)

    def _schedule_shared(self) -> None:
        if not self._scheduled and self._pending and len(self._flushing) < SHARED_FLUSHES:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_shared)

    def _flush_shared(self) -> None:
        self._scheduled = False
        task = asyncio.ensure_future(self._append_shared(self._take_batch()))
        self._flushing.add(task)
        task.add_done_callback(self._flushed)
        self._schedule_shared()

    def _flushed(self, task: asyncio.Task) -> None:
        self._flushing.discard(task)
        self._schedule_shared()

    async def _append_shared(self, batch: list[tuple[Appending, asyncio.Future]]) -> None:
        try:
            results = await self.calls(self.store.append_many, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of it (a 503 or 500)
            _fail_all(batch, exc)
            return
        for (_item, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def publish_stored(self, shop: str, seq: int, received_at: float, event: dict[str, Any], identity: str,
                       encoded: str = "") -> None:
        frame = protocol.event_frame(seq, identity, received_at, event, encoded)
        self.hub.publish(shop, seq, frame, identity=identity)
        if self.config.skytakeout_shop == shop and self.hub.has_subscribers(skytakeout_channel(shop)):
            legacy = skytakeout_frame(event)
            if legacy:
                self.hub.publish(skytakeout_channel(shop), seq, legacy)

    def publish_followed(self, shop: str, entries: list[tuple[int, float, dict[str, Any], str]]) -> None:
        """Events another gateway (or this one) stored in a shared store, in log order."""
        for seq, received_at, event, identity in entries:
            self.publish_stored(shop, seq, received_at, event, identity)
