"""The stream as the desktop app sees it: real server, NotifierStreamSource, OrderIntake, Ledger."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import subprocess
import threading
import time

import aiohttp
import pytest
from helpers import wait_until
from server_helpers import silent_websocket

from notifier.core import protocol
from notifier.core.connection import ConnState
from notifier.core.events import OrderKind
from notifier.core.sources.notifier_stream import parse_cursor

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def test_live_orders_arrive_with_their_details(server, make_client):
    client = make_client(server)
    client.wait_state(ConnState.CONNECTED)
    server.publish(order_id="5001", order_number="A-5001", amount="56.50", customer="张三", text="牛肉面")
    server.publish(order_id="5001", kind="reminder")
    new, reminder = client.wait_orders(2)
    assert (new.kind, new.order_id, new.order_number, str(new.amount), new.customer) == (
        OrderKind.NEW_ORDER, "5001", "A-5001", "56.50", "张三")
    assert reminder.kind is OrderKind.REMINDER and reminder.order_id == "5001"
    assert new.server == f"127.0.0.1:{server.port}/alpha"


def test_orders_published_while_the_client_was_away_are_replayed_once(server, make_client, tmp_path):
    ledger = tmp_path / "shop.sqlite3"
    client = make_client(server, ledger_path=ledger)
    client.wait_state(ConnState.CONNECTED)
    server.publish(order_id="1")
    client.wait_orders(1)
    client.stop()
    for n in range(2, 6):
        server.publish(order_id=str(n))
    again = make_client(server, ledger_path=ledger)
    again.wait_orders(4)
    assert again.order_ids() == ["2", "3", "4", "5"], "only what was missed, in order"
    assert again.ledger_order_ids() == ["1", "2", "3", "4", "5"]
    assert parse_cursor(again.ledger.cursor(again.source.cursor_name)) == (server.store.shop("alpha").identity, 5)


def test_a_reconnect_resumes_from_the_cursor_on_disk(server, make_client):
    client = make_client(server)
    client.wait_state(ConnState.CONNECTED)
    for n in range(1, 4):
        server.publish(order_id=str(n))
    client.wait_orders(3)
    client.source.reconnect_now()
    wait_until(lambda: client.source.connections >= 2, 5)
    server.publish(order_id="4")
    client.wait_orders(4)
    identity = server.store.shop("alpha").identity
    assert client.source.attempted_urls[-1].endswith(f"/api/v1/shops/alpha/stream?after=3&store={identity}")
    assert client.ledger_order_ids() == ["1", "2", "3", "4"]


def test_a_client_of_shop_a_never_sees_shop_b(server, make_client):
    a = make_client(server, "alpha")
    b = make_client(server, "beta")
    a.wait_state(ConnState.CONNECTED)
    b.wait_state(ConnState.CONNECTED)
    for n in range(20):
        server.publish("beta", order_id=f"b{n}")
    server.publish("alpha", order_id="a0")
    b.wait_orders(20)
    a.wait_orders(1)
    assert a.order_ids() == ["a0"]
    # Shop A's token does not open shop B's stream either.
    intruder = make_client(server, "beta", token=server.shops["alpha"].client_token)
    intruder.wait_state(ConnState.WAITING)
    assert intruder.source.status.reason is ConnState.UNAUTHORIZED
    assert intruder.orders == []


def test_a_wrong_token_is_unauthorized_with_a_sentence(server, make_client):
    client = make_client(server, token="not-the-token")
    status = client.wait_state(ConnState.WAITING)
    assert status.reason is ConnState.UNAUTHORIZED
    assert "token" in status.sentence()


def test_a_missing_token_or_shop_is_a_settings_problem(server, make_client):
    no_token = make_client(server, token="")
    assert "notifier_token" in no_token.wait_state(ConnState.MISCONFIGURED).detail
    no_shop = make_client(server, "alpha", **{"connection.shop": ""})
    assert "shop" in no_shop.wait_state(ConnState.MISCONFIGURED).detail


def test_a_cursor_older_than_the_retention_is_reported_as_a_history_gap(server, make_client):
    for n in range(1, 6):
        server.publish(order_id=str(n))
    server.store.prune(0, now=time.time() + 1)  # every stored event expires
    server.publish(order_id="6")
    client = make_client(server)
    status = client.wait_state(ConnState.HISTORY_GAP)
    assert "older orders were no longer available" in status.sentence()
    client.wait_orders(1)
    assert client.order_ids() == ["6"]
    assert client.source.status.healthy
    # The next connection resumes after the gap: connected again, not a gap for ever.
    client.source.reconnect_now()
    assert client.wait_state(ConnState.CONNECTED).state is ConnState.CONNECTED


def test_a_client_ahead_of_a_rebuilt_store_starts_over(server, make_client, tmp_path):
    ledger = tmp_path / "ahead.sqlite3"
    client = make_client(server, ledger_path=ledger)
    client.wait_state(ConnState.CONNECTED)
    client.stop()
    from notifier.core.ledger import Ledger

    old = Ledger(ledger)
    old.set_cursor(f"notifier|127.0.0.1:{server.port}|alpha", "500")
    old.close()
    server.publish(order_id="1")
    again = make_client(server, ledger_path=ledger)
    again.wait_orders(1)
    wait_until(lambda: parse_cursor(again.ledger.cursor(again.source.cursor_name))[1] == 1, 5)


def test_the_server_pings_and_drops_a_silent_peer(make_server):
    server = make_server(heartbeat_s=0.5)
    token = server.shops["alpha"].client_token

    async def main():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                server.url + protocol.stream_path("alpha"), headers={"Authorization": f"Bearer {token}"},
                autoping=False,
            )
            pings = 0
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.PING:
                    pings += 1  # and never answered
            return pings, ws.close_code

    pings, code = asyncio.run(asyncio.wait_for(main(), 10))
    assert pings >= 1 and code is not None


def test_the_token_may_come_in_the_query_and_never_reaches_the_access_log(server, caplog):
    token = server.shops["alpha"].client_token
    caplog.set_level(logging.INFO, logger="notifier.server.access")

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}{protocol.stream_path('alpha')}?after=0&token={token}") as ws:
                hello = await ws.receive_json(timeout=5)
            return hello

    assert asyncio.run(main())["type"] == "hello"
    wait_until(lambda: any("/stream" in r.getMessage() for r in caplog.records), 5)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged
    line = json.loads(next(r.getMessage() for r in caplog.records if "/stream" in r.getMessage()))
    assert line["query"] == {"after": "0"} and line["status"] == 101


def test_a_client_that_never_reads_does_not_slow_delivery_to_fifty_others(make_server):
    server = make_server(queue_limit=50, max_streams_per_shop=100)
    token = server.shops["alpha"].client_token
    silent = silent_websocket(server.port, token)
    events, fanout = 300, 50
    received: dict[int, list[float]] = {}
    connected = threading.Event()
    sent_at: dict[int, float] = {}

    async def reader(session, index):
        async with session.ws_connect(server.url + protocol.stream_path("alpha"),
                                      headers={"Authorization": f"Bearer {token}"}) as ws:
            times = received.setdefault(index, [])
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame["type"] != "event":
                    continue
                times.append(time.monotonic() - sent_at[frame["seq"]])
                if len(times) == events:
                    return

    async def main():
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.ensure_future(reader(session, i)) for i in range(fanout)]
            await asyncio.sleep(0)
            wait_for = time.monotonic() + 5
            while server.hub.connections < fanout + 1 and time.monotonic() < wait_for:
                await asyncio.sleep(0.02)
            connected.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)

    def publisher():
        connected.wait(10)
        text = "订" * 2000  # 6 KB frames fill the silent client's buffers quickly
        for n in range(1, events + 1):
            sent_at[n] = time.monotonic()
            server.publish(order_id=str(n), text=text)

    thread = threading.Thread(target=publisher)
    thread.start()
    asyncio.run(main())
    thread.join(10)
    silent.close()
    assert len(received) == fanout and all(len(t) == events for t in received.values())
    worst = max(max(t) for t in received.values())
    assert worst < 2.0, f"slowest delivery took {worst:.2f} s"
    assert server.hub.kicked >= 1, "the silent client was dropped for being too slow"


@pytest.fixture
def skytakeout_server(make_server):
    return make_server(skytakeout_shop="alpha")


def test_the_skytakeout_endpoint_feeds_the_skytakeout_source(skytakeout_server, tmp_path):
    from notifier.core.intake import OrderIntake
    from notifier.core.ledger import Ledger
    from notifier.core.secrets import MemorySecrets
    from notifier.core.settings import Settings

    server = skytakeout_server
    ledger = Ledger(tmp_path / "sky.sqlite3")
    intake = OrderIntake(ledger, MemorySecrets())
    orders = []
    intake.on_order(orders.append)
    source = intake.start(Settings({"connection.protocol": "skytakeout",
                                    "connection.url": f"ws://127.0.0.1:{server.port}/ws/"}))
    try:
        wait_until(lambda: source.status.state is ConnState.CONNECTED, 5)
        wait_until(lambda: server.hub.connections >= 1, 5)
        server.publish(order_id="31", order_number="20240531")
        server.publish(order_id="31", kind="reminder")
        server.publish("beta", order_id="99")  # another shop: not on this endpoint
        wait_until(lambda: len(orders) >= 2, 5)
        assert [(e.kind, e.order_id, e.order_number) for e in orders] == [
            (OrderKind.NEW_ORDER, "31", "20240531"), (OrderKind.REMINDER, "31", "31")]
    finally:
        intake.stop()
        ledger.close()


def test_the_skytakeout_endpoint_is_off_by_default(server):
    async def main():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{server.url}/ws/abc")
            return refused.value.status

    assert asyncio.run(main()) == 404


def test_healthz(server):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.get(server.http_url + "/healthz") as response:
                return response.status, await response.json()

    status, body = asyncio.run(main())
    assert status == 200 and body["status"] == "ok" and body["shops"] == 2


def test_tls_with_a_private_certificate(make_server, make_client, tmp_path):
    import shutil

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    server = make_server(cert=cert, key=key)
    wss = f"wss://127.0.0.1:{server.port}"
    untrusted = make_client(server, **{"connection.url": wss})
    assert untrusted.wait_state(ConnState.WAITING).reason is ConnState.TLS_FAILURE
    trusted = make_client(server, **{"connection.url": wss, "connection.ca_file": str(cert)})
    trusted.wait_state(ConnState.CONNECTED)
    context = ssl.create_default_context(cafile=str(cert))
    protocol.publish_order(f"https://127.0.0.1:{server.port}", "alpha", server.shops["alpha"].ingest_secret,
                           order_id="tls-1", context=context)
    assert trusted.wait_orders(1)[0].order_id == "tls-1"
