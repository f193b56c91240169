"""Live delivery across gateways: follow the Redis streams of the shops this gateway has clients for.

A gateway on a shared store does not fan out what it stored itself: the event may as well have
come in on another gateway. One thread per gateway blocks on one batched `XREAD` over the
streams of every shop with a client here (plus a private wake-up stream, so a shop that gets
its first client is added at once) and hands what it read to the event loop, which publishes it
to the hub in stream order. A shop starts being followed from the last seq its first client saw
in the log before subscribing, so nothing falls between the replay and the live events; what
both deliver is skipped by the client's writer (it sends only seqs above its cursor).

A second thread listens on the credentials channel: a token rotated or a shop removed by any
gateway or admin command makes every gateway check its streams at once.

Note for Redis Cluster: one XREAD may only name keys of one slot, so there the follower would
read per node; this implementation targets one Redis (with replicas / Sentinel).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from notifier.server.redis_store import (
    CREDENTIALS_CHANNEL,
    PREFIX,
    RedisEventStore,
    decode_entry,
    log_key,
)

log = logging.getLogger(__name__)

BLOCK_MS = 1000  # one XREAD waits at most this long (the wake-up stream cuts it short)
READ_COUNT = 500  # entries per stream per read
RETRY_S = 0.5  # after losing the connection to Redis


class LiveFollower:
    """Reads new stream entries of the followed shops and calls `deliver(shop, entries)` on `loop`."""

    def __init__(self, store: RedisEventStore, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[str, list[tuple[int, float, dict[str, Any], str]]], None],
                 on_credentials: Callable[[], None]):
        self._store = store
        self._loop, self._deliver, self._on_credentials = loop, deliver, on_credentials
        self._lock = threading.Lock()
        self._changes: list[tuple[str, int | None]] = []  # (shop, from seq) or (shop, None): stop
        self._wake = f"{PREFIX}:wake:{secrets.token_hex(8)}"
        self._stop = threading.Event()
        self._client = store.new_client()
        self._threads: list[threading.Thread] = []
        self._pubsub = None

    def start(self) -> None:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(**{CREDENTIALS_CHANNEL: self._credentials_changed})
        self._threads = [
            threading.Thread(target=self._read_forever, name="redis-follower", daemon=True),
            threading.Thread(target=self._listen_forever, name="redis-credentials", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke()
        for thread in self._threads:
            thread.join(BLOCK_MS / 1000 + 2)
        try:
            self._client.delete(self._wake)
            if self._pubsub is not None:
                self._pubsub.close()
            self._client.close()
        except redis.RedisError:
            pass

    # -- called on the event loop

    def watch(self, shop: str, from_seq: int) -> None:
        """Deliver `shop`'s entries after `from_seq` (and on). Safe to call again: the position
        only moves back, and clients skip what they already have."""
        with self._lock:
            self._changes.append((shop, from_seq))
        self._poke()

    def unwatch(self, shop: str) -> None:
        with self._lock:
            self._changes.append((shop, None))

    def _poke(self) -> None:
        try:
            self._client.xadd(self._wake, {"w": "1"}, maxlen=1, approximate=False)
        except redis.RedisError:
            pass  # the follower retries on its own

    # -- the threads

    def _credentials_changed(self, _message) -> None:
        self._loop.call_soon_threadsafe(self._on_credentials)

    def _listen_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._pubsub.get_message(timeout=1.0)
            except (redis.RedisError, OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(RETRY_S)
                try:
                    self._pubsub.subscribe(**{CREDENTIALS_CHANNEL: self._credentials_changed})
                except redis.RedisError:
                    pass

    def _read_forever(self) -> None:
        reader = self._store.new_client(socket_timeout=BLOCK_MS / 1000 + 10)
        positions: dict[str, int] = {}
        wake_at = "0-0"
        while not self._stop.is_set():
            with self._lock:
                changes, self._changes = self._changes, []
            for shop, seq in changes:
                if seq is None:
                    positions.pop(shop, None)
                else:
                    positions[shop] = min(seq, positions.get(shop, seq))
            streams: dict[str, str] = {log_key(shop): f"{seq}-0" for shop, seq in positions.items()}
            streams[self._wake] = wake_at
            try:
                reply = reader.xread(streams, count=READ_COUNT, block=BLOCK_MS)
            except (redis.RedisError, OSError):
                if not self._stop.is_set():
                    log.warning("reading the event streams from Redis failed; retrying", exc_info=True)
                    time.sleep(RETRY_S)
                continue
            for key, entries in reply or ():
                key = key.decode()
                if key == self._wake:
                    wake_at = entries[-1][0].decode()
                    continue
                shop = key.split("{", 1)[1].split("}", 1)[0]
                if shop not in positions:
                    continue
                decoded = [decode_entry(entry_id, fields) for entry_id, fields in entries]
                positions[shop] = decoded[-1][0]
                self._loop.call_soon_threadsafe(self._deliver, shop, decoded)
        reader.close()
