"""The client's own check of the store identity in the server's hello, for a server that does
not reset a cursor from another store by itself (one from before per-shop identities). Such a
server is not kept in this tree, so it is played by a small aiohttp double: the fake's name says so.

The real server's own reset runs on both stores (test_stream, test_revoked_streams), and here
across them: a shop whose server moved from SQLite to Redis without `migrate`."""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web
from helpers import free_port, wait_until
from server_helpers import Client, client_settings, start_server

from notifier.core import protocol
from notifier.core.sources.notifier_stream import parse_cursor


class OldServerFake:
    """Serves one store (`store`, with `events` events) and, like old servers, resumes after any
    cursor, whatever store it came from."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[str] = []
        self.store, self.events = "A", 5
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        self.requests.append(request.path_qs)
        after = int(request.query.get("after", "0"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        store, events = self.store, self.events
        await ws.send_json({"type": "hello", "shop": "alpha", "store": store, "last_seq": events,
                            "oldest_seq": 1, "reset": False})
        for seq in range(after + 1, events + 1):
            await ws.send_str(protocol.event_frame(seq, store, time.time(), {
                "kind": "new_order", "order_id": f"{store}-{seq}", "order_number": None, "amount": None,
                "currency": "CNY", "customer": None, "text": None, "occurred_at": None}))
        async for _ in ws:
            pass
        return ws

    def start(self) -> None:
        app = web.Application()
        app.router.add_get(protocol.API_PREFIX + "/{shop}/stream", self._stream)
        runner = web.AppRunner(app)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(runner.setup(), self._loop).result(5)
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(site.start(), self._loop).result(5)
        self._runner = runner

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def test_old_server_fake_another_store_in_hello_makes_the_client_read_it_from_the_start(tmp_path):
    fake = OldServerFake()
    fake.start()
    ledger_path = tmp_path / "ledger.sqlite3"
    settings = client_settings(f"ws://127.0.0.1:{fake.port}", "alpha")
    client = Client(settings, ledger_path, "any-token")
    try:
        client.wait_orders(5)  # all of store A
        client.stop()
        fake.store, fake.events = "B", 15  # the server's store replaced; B is already past 5
        client = Client(settings, ledger_path, "any-token")
        client.wait_orders(15)
        assert client.order_ids() == [f"B-{seq}" for seq in range(1, 16)], "none of store B's orders skipped"
        assert parse_cursor(client.ledger.cursor(client.source.cursor_name)) == ("B", 15)
        wait_until(lambda: len(fake.requests) >= 3, 5)
        assert fake.requests[1].endswith("after=5&store=A") and fake.requests[2].endswith("after=0")
    finally:
        client.stop()
        fake.stop()


def test_a_client_of_a_server_moved_from_sqlite_to_redis_reads_the_new_store_from_the_start(tmp_path, redis_server):
    with redis_server.client() as redis:
        redis.flushall()
    port, ledger_path = free_port(), tmp_path / "ledger.sqlite3"
    old = start_server(tmp_path / "sqlite", shops=("alpha",), port=port)
    client = Client(client_settings(old.url, "alpha"), ledger_path, old.shops["alpha"].client_token)
    try:
        for n in range(5):
            old.publish(order_id=f"A-{n}")
        client.wait_orders(5)
    finally:
        client.stop()
        old.thread.stop()
        old.store.close()
    new = start_server(tmp_path / "redis", shops=("alpha",), port=port, store_url=redis_server.url)
    client = Client(client_settings(new.url, "alpha"), ledger_path, new.shops["alpha"].client_token)
    try:
        for n in range(15):  # the new store is already past the old cursor's 5
            new.publish(order_id=f"B-{n}")
        client.wait_orders(15)
        assert client.order_ids() == [f"B-{n}" for n in range(15)], "none of the new store's orders skipped"
        identity = new.store.shop("alpha").identity
        wait_until(lambda: parse_cursor(client.ledger.cursor(client.source.cursor_name)) == (identity, 15), 5)
    finally:
        client.stop()
        new.thread.stop()
        new.store.close()
