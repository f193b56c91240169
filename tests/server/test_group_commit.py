"""Ingest requests that arrive together are stored in one transaction, and each still gets the
answer it would have had alone: one event per idempotency key, one use per nonce, a request for
an unknown shop refused without failing the others, and clients get every event in order."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from helpers import wait_until

from notifier.core import protocol
from notifier.server.app import BATCHER
from notifier.server.store import Appending, IngestResult, ShopError

EVENT = {"kind": "new_order", "order_id": "1", "order_number": None, "amount": None, "currency": "CNY",
         "customer": None, "text": None, "occurred_at": None}

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def test_one_transaction_keeps_each_request_s_own_outcome(store_location):
    store = store_location.open()
    store.add_shop("alpha")
    results = store.append_many([
        Appending("alpha", EVENT, "n" * 16, "key-1", b"a"),
        Appending("alpha", EVENT, "m" * 16, "key-1", b"a"),  # a retry within the same batch
        Appending("alpha", EVENT, "n" * 16, None, b"b"),  # the first request's nonce again
        Appending("gone", EVENT, "o" * 16, None, b"c"),  # no such shop
        Appending("alpha", EVENT, "p" * 16, "key-1", b"other"),  # the key with another body
        Appending("alpha", EVENT, "o" * 16, None, b"d"),  # the unknown shop's nonce is not used up
    ])
    first, retry, reused, unknown, conflict, last = results
    assert isinstance(first, IngestResult) and (first.seq, first.duplicate) == (1, False)
    assert (retry.seq, retry.duplicate, retry.conflict) == (1, True, False)
    assert reused.nonce_reused
    assert isinstance(unknown, ShopError)
    assert (conflict.duplicate, conflict.conflict) == (True, True)
    assert (last.seq, last.duplicate) == (2, False)
    assert [seq for seq, _, _ in store.events_after("alpha", 0)] == [1, 2]
    store.close()


def test_fifty_concurrent_posts_are_stored_once_each_and_streamed_in_order(server):
    secret, token = server.shops["alpha"].ingest_secret, server.shops["alpha"].client_token

    async def main():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.url + protocol.stream_path("alpha", 0),
                                          headers={"Authorization": f"Bearer {token}"})
            assert (await ws.receive_json(timeout=5))["type"] == "hello"

            async def post(n: int) -> dict:
                body = json.dumps({"order_id": str(n)}).encode()
                async with session.post(server.http_url + protocol.ingest_path("alpha"), data=body,
                                        headers={**protocol.signed_headers(secret, body),
                                                 "Idempotency-Key": f"order-{n}"}) as response:
                    assert response.status == 201
                    return await response.json()

            answers = await asyncio.gather(*(post(n) for n in range(50)))
            frames = [await ws.receive_json(timeout=5) for _ in range(50)]
            await ws.close()
            return answers, frames

    answers, frames = asyncio.run(main())
    assert sorted(a["seq"] for a in answers) == list(range(1, 51)), "each stored once"
    assert [f["seq"] for f in frames] == list(range(1, 51)), "streamed in order, none missing"
    by_seq = {a["seq"]: f"{n}" for n, a in enumerate(answers)}
    assert all(f["event"]["order_id"] == by_seq[f["seq"]] for f in frames), "each answer names its own event"
    batcher = server.thread.app[BATCHER]
    wait_until(lambda: batcher.requests >= 50, 2)
    print(f"50 requests in {batcher.batches} transactions")
