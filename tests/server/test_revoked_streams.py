"""A stream lives only as long as the token and the shop it was opened with: rotating the token
or removing the shop closes it within a moment (also when the admin command runs in another
process), and a shop created again under the same name is another store its old cursors
cannot resume in."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import pytest
from helpers import wait_until
from server_helpers import REPO

from notifier.core import protocol
from notifier.core.connection import ConnState
from notifier.core.protocol import publish_order
from notifier.core.sources.notifier_stream import parse_cursor
from notifier.server.hub import CLOSE_SHOP_GONE, CLOSE_TOKEN_REVOKED

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def admin(server, *args: str) -> str:
    """`notifier server …` as its own process against the running server's data directory."""
    done = subprocess.run([sys.executable, "-m", "notifier", "server", *server.store_args, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def credentials(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("client token:"):
            found["token"] = line.split(":", 1)[1].strip()
        if line.startswith("ingest secret:"):
            found["secret"] = line.split(":", 1)[1].strip()
    return found


async def open_stream(server, token: str, shop: str = "alpha"):
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(server.url + protocol.stream_path(shop, 0),
                                  headers={"Authorization": f"Bearer {token}"})
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    return session, ws, hello


async def read_until_closed(ws, seconds: float) -> tuple[list[dict], int | None, float]:
    started = time.monotonic()
    frames = []
    async with asyncio.timeout(seconds):
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                frames.append(json.loads(msg.data))
    return frames, ws.close_code, time.monotonic() - started


def test_rotating_the_token_in_another_process_closes_the_open_stream(server):
    async def main():
        session, ws, _ = await open_stream(server, server.shops["alpha"].client_token)
        try:
            # Read all along, as a real client does: a close frame left unread while the admin
            # command runs would be reset at the server's close deadline (a 1006, not the code).
            closing = asyncio.ensure_future(read_until_closed(ws, 8))
            await asyncio.to_thread(admin, server, "rotate-token", "alpha")
            rotated_at = time.monotonic()
            await asyncio.sleep(0.5)  # orders published after the rotation must not reach it
            await asyncio.to_thread(server.publish, order_id="after-rotation")
            frames, code, _ = await closing
            return frames, code, time.monotonic() - rotated_at
        finally:
            await session.close()

    frames, code, seconds = asyncio.run(main())
    assert code == CLOSE_TOKEN_REVOKED
    assert not [f for f in frames if f["type"] == "event"], "no order after the token was rotated"
    assert seconds < 2


def test_a_client_with_a_rotated_token_is_told_its_token_is_wrong(server, make_client):
    client = make_client(server)
    client.wait_state(ConnState.CONNECTED)
    server.store.rotate("alpha")
    # Closed by the server, then its reconnect is refused: the owner is told the token is wrong.
    wait_until(lambda: client.source.status.reason is ConnState.UNAUTHORIZED, 10,
               message="the stream closed and the old token refused")


def test_the_first_thing_said_after_a_rotation_is_that_the_token_is_wrong(server, make_client):
    client = make_client(server)
    client.wait_state(ConnState.CONNECTED)
    seen = len(client.statuses)
    server.store.rotate("alpha")
    wait_until(lambda: any(s.state is ConnState.WAITING for s in client.statuses[seen:]), 10,
               message="the stream was closed")
    first = next(s for s in client.statuses[seen:] if s.state is ConnState.WAITING)
    # Not "closed by the server" (and a fast retry) first: the close code says why.
    assert first.reason is ConnState.UNAUTHORIZED, first
    assert "4001" in first.detail


@pytest.mark.parametrize("where", ["same process", "admin command"])
def test_a_removed_and_recreated_shop_never_feeds_the_old_stream(server, where):
    async def main():
        session, ws, old_hello = await open_stream(server, server.shops["alpha"].client_token)
        try:
            server.publish(order_id="old-1")
            first = await ws.receive_json(timeout=5)
            assert first["event"]["order_id"] == "old-1"
            # The old stream is read all along, as a real client does: the server resets a
            # socket that leaves its close frame unanswered for seconds.
            closing = asyncio.ensure_future(read_until_closed(ws, 30))
            if where == "same process":
                server.store.remove_shop("alpha")
                secret = server.store.add_shop("alpha").ingest_secret
            else:
                await asyncio.to_thread(admin, server, "remove-shop", "alpha")
                secret = credentials(await asyncio.to_thread(admin, server, "add-shop", "alpha"))["secret"]
            for n in range(3):  # the new owner's seq 1..3 would pass the old stream's cursor of 1
                await asyncio.to_thread(publish_order, server.http_url, "alpha", secret, order_id=f"new-{n}")
            frames, code, _ = await closing
            return old_hello, frames, code
        finally:
            await session.close()

    old_hello, frames, code = asyncio.run(main())
    assert code == CLOSE_SHOP_GONE
    assert not [f for f in frames if f["type"] == "event"], "the new owner's orders never reach the old stream"
    assert server.store.shop("alpha").identity != old_hello["store"], "a new store identity"


def test_an_old_cursor_is_not_resumed_in_a_recreated_shop(server, make_client, tmp_path):
    ledger = tmp_path / "owner.sqlite3"
    client = make_client(server, ledger_path=ledger)
    for n in range(5):
        server.publish(order_id=f"old-{n}")
    client.wait_orders(5)
    client.stop()
    server.store.remove_shop("alpha")
    new = server.store.add_shop("alpha")
    for n in range(8):
        publish_order(server.http_url, "alpha", new.ingest_secret, order_id=f"new-{n}")
    again = make_client(server, ledger_path=ledger, token=new.client_token)
    again.wait_orders(8)
    assert again.order_ids() == [f"new-{n}" for n in range(8)], "all of the new shop's orders, none skipped"
    identity = server.store.shop("alpha").identity
    wait_until(lambda: parse_cursor(again.ledger.cursor(again.source.cursor_name)) == (identity, 8), 5)
