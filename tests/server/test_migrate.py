"""`notifier server migrate --from sqlite:DIR --to redis://…`: a shop moved from the single-process
server to the Redis gateways keeps its numbers, its identity and its tokens, so its clients
resume where they were and its order system's retries are still recognised."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
from server_helpers import REPO, start_server

from notifier.core import protocol
from notifier.core.protocol import publish_order


def migrate(data_dir, url) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "notifier", "server", "migrate", "--from", f"sqlite:{data_dir}",
                           "--to", url], cwd=REPO, capture_output=True, text=True, timeout=60)


def resume(url: str, shop: str, token: str, after: int, store: str) -> tuple[dict, list[dict]]:
    async def main():
        async with aiohttp.ClientSession() as session:
            path = protocol.stream_path(shop, after) + f"&store={store}"
            async with session.ws_connect(url + path, headers={"Authorization": f"Bearer {token}"}) as ws:
                hello = await ws.receive_json(timeout=5)
                frames = []
                while not frames or frames[-1]["seq"] < hello["last_seq"]:
                    frames.append(json.loads((await ws.receive(timeout=5)).data))
                return hello, frames

    return asyncio.run(main())


def test_a_migrated_shop_keeps_numbers_identity_tokens_and_idempotency(tmp_path, redis_server):
    with redis_server.client() as client:
        client.flushall()
    old = start_server(tmp_path / "old", shops=("alpha",))
    creds = old.shops["alpha"]
    for n in range(1, 8):
        old.publish(order_id=str(n), idempotency_key=f"{n}-paid")
    identity = old.store.shop("alpha").identity
    old.thread.stop()
    old.store.close()

    done = migrate(old.data_dir, redis_server.url)
    assert done.returncode == 0, done.stderr
    assert "alpha: 7 events copied" in done.stdout

    new = start_server(tmp_path / "new", shops=(), store_url=redis_server.url)
    try:
        # The client's old cursor (identity, seq 5) resumes without a reset, with the old token.
        hello, frames = resume(new.url, "alpha", creds.client_token, 5, identity)
        assert (hello["store"], hello["reset"], hello["last_seq"]) == (identity, False, 7)
        assert [f["seq"] for f in frames] == [6, 7]
        assert [f["event"]["order_id"] for f in frames] == ["6", "7"]
        # A retry that crosses the move is recognised; new orders continue the numbering.
        retry = publish_order(new.http_url, "alpha", creds.ingest_secret, order_id="7", idempotency_key="7-paid")
        assert (retry["seq"], retry["duplicate"]) == (7, True)
        assert publish_order(new.http_url, "alpha", creds.ingest_secret, order_id="8")["seq"] == 8
        # Running it again copies nothing twice (the tail only), and never moves Redis back.
        again = migrate(old.data_dir, redis_server.url)
        assert again.returncode == 1 and "Redis is ahead" in again.stdout
        assert [seq for seq, _, _ in new.store.events_after("alpha", 0)] == list(range(1, 9))
    finally:
        new.thread.stop()
        new.store.close()


def test_migrate_says_what_it_needs(tmp_path, redis_server):
    done = subprocess.run([sys.executable, "-m", "notifier", "server", "migrate", "--from", str(tmp_path),
                           "--to", redis_server.url], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "--from sqlite:" in done.stderr and "Traceback" not in done.stderr
