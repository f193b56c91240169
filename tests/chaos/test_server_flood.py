"""The reference server (its own process) under a flood of bad requests keeps serving good ones:
an order system's signed POSTs are accepted and a connected shop receives them, with latency
reported, while thousands of forged, garbage, oversize and unauthorised requests are refused with
4xx answers (never a 5xx, never a crash)."""

from __future__ import annotations

import asyncio
import collections
import statistics
import sys
import threading
import time
from pathlib import Path

import aiohttp
from chaos_support import ServerProcess, scaled
from helpers import free_port, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import Client, client_settings  # noqa: E402

from notifier.core import protocol  # noqa: E402
from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.protocol import publish_order  # noqa: E402
from notifier.server.store import EventStore  # noqa: E402

CONCURRENCY = 32


def _bad_requests(base: str, secret: str, count: int):
    """(kind, method, url, headers, body) for `count` hostile requests, round robin over kinds."""
    ingest = base + protocol.ingest_path("noodle")
    good_body = b'{"order_id":"1","amount":"1.00"}'

    def signed(body: bytes, **kw) -> dict:
        return {"Content-Type": "application/json", **protocol.signed_headers(secret, body, **kw)}

    kinds = [
        ("bad signature", lambda i: ("POST", ingest, {**signed(good_body), protocol.SIGNATURE_HEADER: "sha256=" + "0" * 64}, good_body)),
        ("unsigned", lambda i: ("POST", ingest, {"Content-Type": "application/json"}, good_body)),
        ("wrong secret", lambda i: ("POST", ingest, {"Content-Type": "application/json",
                                                       **protocol.signed_headers("not-the-secret", good_body)}, good_body)),
        ("stale timestamp", lambda i: ("POST", ingest, signed(good_body, timestamp=int(time.time()) - 3600), good_body)),
        ("garbage body, signed", lambda i: ("POST", ingest, signed(b"\xff\x00{garbage" * (i % 7 + 1)), b"\xff\x00{garbage" * (i % 7 + 1))),
        ("invalid event, signed", lambda i: ("POST", ingest, signed(b'{"order_id":[1],"kind":7}'), b'{"order_id":[1],"kind":7}')),
        ("lone surrogate, signed", lambda i: ("POST", ingest, signed(b'{"order_id":"\\ud800"}'), b'{"order_id":"\\ud800"}')),
        ("oversize body", lambda i: ("POST", ingest, {"Content-Type": "application/json"}, b"{" + b" " * (200 * 1024) + b"}")),
        ("unknown shop", lambda i: ("POST", base + protocol.ingest_path("nobody"), signed(good_body), good_body)),
        ("bad stream token", lambda i: ("GET", base + protocol.stream_path("noodle", 0),
                                        {"Authorization": f"Bearer forged-{i}", "Connection": "Upgrade",
                                         "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, None)),
        ("stream without token", lambda i: ("GET", base + protocol.stream_path("noodle", 0), {}, None)),
        ("bad after", lambda i: ("GET", base + protocol.stream_path("noodle") + "?after=-5&token=x", {}, None)),
    ]
    for i in range(count):
        name, make = kinds[i % len(kinds)]
        yield (name, *make(i))


async def _flood(requests, statuses: dict, stop: threading.Event) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, force_close=False)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        async def worker() -> None:
            while not queue.empty() and not stop.is_set():
                name, method, url, headers, body = queue.get_nowait()
                try:
                    async with session.request(method, url, headers=headers, data=body,
                                               timeout=aiohttp.ClientTimeout(total=10)) as response:
                        await response.read()
                        statuses[name][response.status] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    statuses[name][type(exc).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def test_a_flood_of_bad_requests_does_not_stop_good_orders(tmp_path):
    """5,000 hostile requests (the full size by default, a few seconds; NOTIFIER_CHAOS_SCALE
    scales it) while a good order is published every 50 ms and streamed to a connected shop."""
    count = scaled(5_000, 500, default=1.0)
    store = EventStore(tmp_path / "server")
    creds = store.add_shop("noodle")
    store.close()
    server = ServerProcess(tmp_path / "server", free_port())
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    client = Client(client_settings(f"ws://127.0.0.1:{server.port}", "noodle"),
                    tmp_path / "ledger.sqlite3", creds.client_token)
    arrived: dict[str, float] = {}
    client.intake.on_order(lambda event: arrived.setdefault(event.order_id, time.monotonic()))
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    stop = threading.Event()
    flood_done = threading.Event()

    def flood() -> None:
        try:
            asyncio.run(_flood(list(_bad_requests(base, creds.ingest_secret, count)), statuses, stop))
        finally:
            flood_done.set()

    sent: dict[str, float] = {}
    ingest_ms: list[float] = []
    try:
        client.wait_state(ConnState.CONNECTED)
        flooder = threading.Thread(target=flood)
        started = time.monotonic()
        flooder.start()
        n = 0
        while not flood_done.is_set() or n < 10:
            order_id = f"good-{n}"
            t0 = time.monotonic()
            sent[order_id] = t0
            publish_order(base, "noodle", creds.ingest_secret, order_id=order_id, amount="10.00", timeout=5)
            ingest_ms.append((time.monotonic() - t0) * 1000)
            n += 1
            flood_done.wait(0.05)
        flood_seconds = time.monotonic() - started
        flooder.join(30)
        wait_until(lambda: set(sent) <= set(arrived), 10,
                   message=f"good orders delivered; missing {sorted(set(sent) - set(arrived))[:5]}")
        healthy = server.healthy()
        connections = client.source.connections
    finally:
        stop.set()
        client.stop()
        server.stop()
    delivery_ms = sorted((arrived[k] - sent[k]) * 1000 for k in sent)
    refused = sum(sum(c.values()) for c in statuses.values())
    print(f"\nflood: {refused} bad requests in {flood_seconds:.1f} s ({refused / flood_seconds:.0f}/s); "
          f"{len(sent)} good orders during it: ingest p50 {statistics.median(ingest_ms):.1f} ms, "
          f"max {max(ingest_ms):.1f} ms; publish->delivered p50 {statistics.median(delivery_ms):.1f} ms, "
          f"max {max(delivery_ms):.1f} ms")
    for name, counter in sorted(statuses.items()):
        print(f"  {name}: {dict(counter)}")
    assert refused == count
    for name, counter in statuses.items():
        assert all(isinstance(code, int) and 400 <= code < 500 for code in counter), (name, dict(counter))
    assert statuses["lone surrogate, signed"] and set(statuses["lone surrogate, signed"]) == {400}
    assert set(statuses["bad stream token"]) == {401} and set(statuses["oversize body"]) == {413}
    assert healthy and connections == 1, "the good client stayed connected through the flood"
    assert len(sent) >= 10 and max(delivery_ms) < 2000, delivery_ms[-5:]
