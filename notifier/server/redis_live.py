"""Live delivery across gateways: follow the Redis streams of the shops this gateway has clients for.

A gateway on a shared store does not fan out what it stored itself: the event may as well have
come in on another gateway. Every append also publishes the shop's name on `notifier:new`; a
listener thread marks the shops followed here as changed, and a reader thread then reads, in
one batched `XREAD`, only the streams of the changed shops from where it left them, and hands
what it read to the event loop, which publishes it to the hub in stream order. (An earlier
version blocked on one `XREAD` naming every followed stream: with 1,000 shops every event cost
a 1,000-key command; see docs/benchmarks.md.)

The stream, not the notification, is what counts: a notification lost while the listener
reconnects only delays delivery until the sweep that reads every followed stream once a second.
A shop starts being followed from the last seq its first client saw in the log before
subscribing, so nothing falls between the replay and the live events; what both deliver is
skipped by the client's writer (it sends only seqs above its cursor).

The same listener hears `notifier:credentials`: a token rotated or a shop removed by any
gateway or admin command makes every gateway check its streams at once.

On Redis Cluster one XREAD may only name keys of one slot: there the reader sends one XREAD per
slot (the shops that share it), in one plain pipeline per node (see `_xread`).
The notifications stay on the plain channel: a cluster forwards a PUBLISH to every node, so a
gateway hears every shop's news on one connection to any node; per-shop sharded channels
(SSUBSCRIBE) would need a subscription per followed shop, kept on whichever node owns its slot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.crc import key_slot

from notifier.server.redis_store import (
    CREDENTIALS_CHANNEL,
    NEW_EVENTS_CHANNEL,
    RedisEventStore,
    decode_entry,
    log_key,
)

log = logging.getLogger(__name__)

SWEEP_S = 1.0  # every followed stream is read at least this often, notified or not
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
        self._dirty: set[str] = set()  # shops with news, named by notifications
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._client = store.new_client()
        self._threads: list[threading.Thread] = []
        self._pubsub = None

    def start(self) -> None:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._subscribe()
        self._threads = [
            threading.Thread(target=self._read_forever, name="redis-follower", daemon=True),
            threading.Thread(target=self._listen_forever, name="redis-listener", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(SWEEP_S + 2)
        try:
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
        self._wake.set()

    def unwatch(self, shop: str) -> None:
        with self._lock:
            self._changes.append((shop, None))

    # -- the threads

    def _subscribe(self) -> None:
        self._pubsub.subscribe(**{CREDENTIALS_CHANNEL: self._credentials_changed, NEW_EVENTS_CHANNEL: self._new_event})

    def _credentials_changed(self, message) -> None:
        self._store.note_change(message["data"])
        self._loop.call_soon_threadsafe(self._on_credentials)

    def _new_event(self, message) -> None:
        with self._lock:
            self._dirty.add(message["data"].decode())
        self._wake.set()

    def _listen_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._pubsub.get_message(timeout=1.0)
            except (redis.RedisError, OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(RETRY_S)
                try:
                    self._subscribe()
                except redis.RedisError:
                    pass

    def _read_forever(self) -> None:
        reader = self._store.new_client()
        positions: dict[str, int] = {}
        next_sweep = time.monotonic() + SWEEP_S
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            with self._lock:
                changes, self._changes = self._changes, []
                dirty, self._dirty = self._dirty, set()
            for shop, seq in changes:
                if seq is None:
                    positions.pop(shop, None)
                else:
                    positions[shop] = min(seq, positions.get(shop, seq))
                    dirty.add(shop)
            if time.monotonic() >= next_sweep:
                dirty = set(positions)
                next_sweep = time.monotonic() + SWEEP_S
            wanted = {log_key(shop): f"{positions[shop]}-0" for shop in dirty if shop in positions}
            if not wanted:
                continue
            try:
                reply = self._xread(reader, wanted)
            except (redis.RedisError, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("reading the event streams from Redis failed (%s); retrying", exc)
                    with self._lock:
                        self._dirty |= dirty
                    time.sleep(RETRY_S)
                continue
            more = set()
            for key, entries in reply or ():
                shop = key.decode().split("{", 1)[1].split("}", 1)[0]
                if shop not in positions or not entries:
                    continue
                decoded = [decode_entry(entry_id, fields) for entry_id, fields in entries]
                positions[shop] = decoded[-1][0]
                self._loop.call_soon_threadsafe(self._deliver, shop, decoded)
                if len(entries) >= READ_COUNT:
                    more.add(shop)
            if more:
                with self._lock:
                    self._dirty |= more
                self._wake.set()
        reader.close()

    def _xread(self, reader, wanted: dict[str, str]) -> list:
        """One XREAD; on a cluster one per slot, in one plain pipeline per node (one round trip
        per node). redis-py's cluster pipeline asks a node for each XREAD's keys (COMMAND GETKEYS)
        before routing it: a sweep of 1,000 shops took 140-230 ms (this way 13-18 ms), every
        second, and held back live events that long (docs/benchmarks.md).
        When the cluster has moved a slot or a node does not answer, the cluster pipeline (it
        follows MOVED and refreshes its map of the nodes) reads them instead."""
        if not self._store.cluster:
            return reader.xread(wanted, count=READ_COUNT) or []
        by_slot: dict[int, dict[str, str]] = {}
        for key, position in wanted.items():
            by_slot.setdefault(key_slot(key.encode()), {})[key] = position
        try:
            return _xread_node_by_node(reader, by_slot)
        except (redis.exceptions.ResponseError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.RedisClusterException):
            pipe = reader.pipeline(transaction=False)
            for streams in by_slot.values():
                pipe.xread(streams, count=READ_COUNT)
            return [stream for reply in pipe.execute() for stream in reply or ()]


def _xread_node_by_node(reader, by_slot: dict[int, dict[str, str]]) -> list:
    """The per-slot XREADs, sent straight to the node that serves each slot (per the client's
    map; a stale map shows as a MOVED error, raised)."""
    by_node: dict[str, tuple[Any, list[dict[str, str]]]] = {}
    for slot, streams in by_slot.items():
        node = reader.nodes_manager.get_node_from_slot(slot)
        by_node.setdefault(node.name, (node, []))[1].append(streams)
    found = []
    for node, groups in by_node.values():
        pipe = reader.get_redis_connection(node).pipeline(transaction=False)
        for streams in groups:
            pipe.xread(streams, count=READ_COUNT)
        found += [stream for reply in pipe.execute() for stream in reply or ()]
    return found
