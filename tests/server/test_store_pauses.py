"""The gateway's event loop never waits on the network: a Redis that stops answering (SIGSTOP,
as a stalled host or a long fork would) costs the requests that need it a 503 after a bounded
wait, while /healthz answers at once, every stream keeps its pings, and nothing answered 2xx is
lost. Redis only (a real redis-server of the test's own, paused and resumed; a real gateway
process; a real stream client that answers the pings itself, to count them)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request

import aiohttp
from helpers import free_port
from redis_helpers import RedisServer
from server_helpers import ServerProcess

from notifier.core import protocol
from notifier.core.protocol import PublishError, publish_order

PAUSE_S = 2.0  # longer than the gateway's store wait (0.5 s here) several times over
STORE_WAIT_S = 0.5


class Loop(threading.Thread):
    """Calls `step()` until stopped, recording (started at, seconds, outcome)."""

    def __init__(self, step):
        super().__init__(daemon=True)
        self.step, self.results, self.done = step, [], threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            started = time.monotonic()
            outcome = self.step(n)
            self.results.append((started, time.monotonic() - started, outcome))
            n += 1


def test_a_paused_redis_never_freezes_the_gateway(tmp_path):
    from notifier.server.redis_store import RedisEventStore

    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        _pause_under_load(tmp_path, redis, RedisEventStore.from_url(redis.url))
    finally:
        redis.stop()


def _pause_under_load(tmp_path, redis, store) -> None:
    creds = store.add_shop("noodle")
    gateway = ServerProcess(tmp_path / "gw", free_port(), "--heartbeat", "0.5", "--store-timeout", str(STORE_WAIT_S),
                            store_url=redis.url, log_file=tmp_path / "gw.log")
    try:
        gateway.start()
    except BaseException:
        store.close()
        raise
    base = f"http://127.0.0.1:{gateway.port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def health(_n):
        with opener.open(base + "/healthz", timeout=10) as response:
            return response.status

    def ingest(n):
        try:
            publish_order(base, "noodle", creds.ingest_secret, order_id=str(n), idempotency_key=f"{n}-paid", timeout=10)
            return "stored"
        except PublishError as exc:
            return f"{exc.status} {exc.reason}"

    async def main():
        pings, orders = [], []
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + protocol.stream_path("noodle"), autoping=False,
                                          headers={"Authorization": f"Bearer {creds.client_token}"})

            async def read():
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.PING:
                        pings.append(time.monotonic())
                        await ws.pong(msg.data)
                    elif msg.type is aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "event":
                        orders.append(json.loads(msg.data)["event"]["order_id"])

            reader = asyncio.ensure_future(read())
            loops = [Loop(health), Loop(ingest)]
            for loop in loops:
                loop.start()
            await asyncio.sleep(0.5)  # orders going in before the pause
            os.kill(redis.proc.pid, signal.SIGSTOP)
            paused = time.monotonic()
            try:
                await asyncio.sleep(PAUSE_S)
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)
            resumed = time.monotonic()
            await asyncio.sleep(0.5)  # and after it
            for loop in loops:
                loop.done.set()
            await asyncio.to_thread(lambda: [loop.join(15) for loop in loops])
            acked = {str(n) for n, (_at, _took, outcome) in enumerate(loops[1].results) if outcome == "stored"}
            deadline = time.monotonic() + 10
            while not acked <= set(orders) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            reader.cancel()
            await ws.close()
            return pings, orders, loops[0].results, loops[1].results, acked, paused, resumed

    try:
        pings, orders, healths, ingests, acked, paused, resumed = asyncio.run(main())
    finally:
        gateway.stop()
    try:
        during = [(took, outcome) for at, took, outcome in healths if paused <= at < resumed]
        assert len(during) >= 10, f"/healthz answered while Redis was paused: {len(during)} times"
        assert max(took for took, _ in during) < 0.5, f"slowest /healthz during the pause: {max(during)}"
        assert sum(1 for at in pings if paused + 0.2 <= at < resumed) >= 2, "the stream kept its pings"
        refused = [(took, outcome) for at, took, outcome in ingests if paused + 0.1 <= at < resumed - STORE_WAIT_S - 0.1]
        assert refused and {outcome for _, outcome in refused} == {"503 store_unavailable"}, refused
        assert max(took for took, _ in refused) < STORE_WAIT_S + 1.5, "a bounded wait, then the 503"
        assert len(acked) > 5 and any(at > resumed for at, _took, outcome in ingests if outcome == "stored")
        logged = {event["order_id"] for _seq, _at, event in store.events_after("noodle", 0, 100000)}
        assert acked <= logged, f"answered 2xx but not in the log: {sorted(acked - logged)[:5]}"
        assert acked <= set(orders), f"answered 2xx but never streamed: {sorted(acked - set(orders))[:5]}"
        assert "Traceback" not in (tmp_path / "gw.log").read_text()
    finally:
        store.close()
