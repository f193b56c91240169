"""Per-shop limits: one shop (one client token) cannot take the server, or the platform behind
nginx, away from the other shops. Real gateways on a real redis-server behind a real nginx with
the repository's site file; real stream clients."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from helpers import free_port
from redis_helpers import Nginx
from server_helpers import REPO, ServerProcess

from notifier.core import protocol
from notifier.core.connection import ConnState
from notifier.core.protocol import PublishError, publish_order

SITE = REPO / "packaging" / "server" / "nginx-notifier.conf"


async def open_streams(url: str, shop: str, token: str, count: int, session: aiohttp.ClientSession):
    """Open `count` streams at once; (streams that said hello, close codes of those refused)."""

    async def one():
        try:
            ws = await session.ws_connect(url + protocol.stream_path(shop), headers={"Authorization": f"Bearer {token}"},
                                          timeout=aiohttp.ClientWSTimeout(ws_close=5))
        except aiohttp.WSServerHandshakeError as exc:
            return None, exc.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None, "error"
        try:
            msg = await ws.receive(timeout=10)
        except TimeoutError:
            return None, "no hello"
        if msg.type is aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "hello":
            return ws, None
        await ws.close()
        return None, ws.close_code

    results = await asyncio.gather(*(one() for _ in range(count)))
    return [ws for ws, _ in results if ws is not None], [code for ws, code in results if ws is None]


def ingest_all(url: str, shop, orders: list[str]) -> list[int | str]:
    """The status of each ingest, or the PublishError's status (502 from nginx)."""
    answers: list[int | str] = []
    for order in orders:
        try:
            publish_order(url, shop.shop, shop.ingest_secret, order_id=order, timeout=5)
            answers.append(201)
        except PublishError as exc:
            answers.append(exc.status)
    return answers


def test_one_shops_flood_of_streams_behind_nginx_leaves_other_shops_unaffected(tmp_path, redis_server):
    from notifier.server.redis_store import RedisEventStore

    with redis_server.client() as client:
        client.flushall()
    store = RedisEventStore.from_url(redis_server.url)
    flood, other = store.add_shop("flood"), store.add_shop("other")
    gateways = [ServerProcess(tmp_path / f"gw{i}", free_port(), "--max-connections", "100", "--heartbeat", "5",
                              store_url=redis_server.url, log_file=tmp_path / f"gw{i}.log") for i in range(2)]
    nginx = Nginx(tmp_path / "nginx", SITE, [g.port for g in gateways])
    try:
        for gateway in gateways:
            gateway.start()
        nginx.start()
        base = f"http://127.0.0.1:{nginx.port}"

        async def main():
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
                flooding, refused = await open_streams(base.replace("http", "ws"), "flood", flood.client_token, 300,
                                                       session)
                # While the flood holds every stream it got: the other shop's PCs and order system.
                pcs, pcs_refused = await open_streams(base.replace("http", "ws"), "other", other.client_token, 5,
                                                      session)
                during = await asyncio.to_thread(ingest_all, base, other, [f"d{n}" for n in range(25)])
                for ws in flooding + pcs:
                    await ws.close()
                after = await asyncio.to_thread(ingest_all, base, other, [f"a{n}" for n in range(10)])
                return flooding, refused, pcs, pcs_refused, during, after

        flooding, refused, pcs, pcs_refused, during, after = asyncio.run(asyncio.wait_for(main(), 90))
        assert (len(pcs), pcs_refused) == (5, []), "the other shop's PCs all connected"
        assert during == [201] * 25, "the other shop's orders all went in during the flood"
        assert after == [201] * 10, "and after it"
        assert len(flooding) == 2 * 32, "the flooding shop got its limit on each gateway"
        assert set(refused) == {protocol.CLOSE_TOO_MANY_STREAMS}, "the rest were told why"
    finally:
        nginx.stop()
        for gateway in gateways:
            gateway.stop()
        store.close()


def test_a_pc_over_its_shops_limit_says_so_and_retries_slowly(make_server, make_client):
    server = make_server(max_streams_per_shop=1)
    first = make_client(server)
    first.wait_state(ConnState.CONNECTED)
    second = make_client(server)
    waiting = second.wait_state(ConnState.WAITING)
    assert waiting.reason is ConnState.LIMITED
    assert waiting.retry_in >= 30, "not a fast retry loop against a full server"
    assert "already serves as many PCs of this shop as it allows" in waiting.sentence()
