"""Three gateways on one real redis-server, behind a real nginx (the repository's site file):
what a platform with many shops gets from `notifier server --store redis://…`.

Every gateway is a real `notifier server` process; clients are real WebSocket clients that do
what the app's stream source does on a close: reconnect (here through nginx) with the last seq
they saw as `after`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from helpers import free_port
from redis_helpers import Nginx, RedisServer
from server_helpers import REPO, ServerProcess

from notifier.core import protocol
from notifier.core.protocol import PublishError, publish_order
from notifier.server.hub import CLOSE_TOKEN_REVOKED
from notifier.server.redis_store import RedisEventStore

SITE = REPO / "packaging" / "server" / "nginx-notifier.conf"


class Platform:
    def __init__(self, root: Path):
        self.redis = RedisServer(root / "redis", fsync="always")
        self.redis.start()
        self.gateways = [
            ServerProcess(root / f"gw{i}", free_port(), "--store", self.redis.url, "--heartbeat", "5",
                          log_file=root / f"gw{i}.log")
            for i in range(3)
        ]
        for gateway in self.gateways:
            gateway.start()
        self.nginx = Nginx(root / "nginx", SITE, [g.port for g in self.gateways])
        self.nginx.start()
        self.store = RedisEventStore.from_url(self.redis.url)

    def gateway_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.gateways[i].port}"

    @property
    def nginx_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx.port}"

    def stop(self) -> None:
        self.store.close()
        self.nginx.stop()
        for gateway in self.gateways:
            gateway.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    platform = Platform(tmp_path_factory.mktemp("platform"))
    yield platform
    platform.stop()


_names = iter(range(10**6))


@pytest.fixture
def shop(platform):
    """A new shop for each test, made through the store like `add-shop` does."""
    return platform.store.add_shop(f"shop-{next(_names)}")


def publish(url: str, shop, order_id: str, deadline_s: float = 20.0) -> int:
    """Publish the way an order system should: retry on 0/5xx with the same Idempotency-Key."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return publish_order(url, shop.shop, shop.ingest_secret, order_id=order_id,
                                 idempotency_key=f"{order_id}-paid", timeout=5)["seq"]
        except PublishError as exc:
            if exc.status not in (0, 502, 503, 504) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Follower:
    """A stream client that reconnects with its cursor, recording every event seq it got."""

    def __init__(self, base_url: str, shop, until_seq: int):
        self.url, self.shop, self.until = base_url.replace("http", "ws", 1), shop, until_seq
        self.seqs: list[int] = []
        self.order_ids: list[str] = []
        self.connects = 0
        self.close_codes: list[int | None] = []

    async def run(self, *, reconnect: bool = True, token: str | None = None) -> None:
        cursor = 0
        headers = {"Authorization": f"Bearer {token or self.shop.client_token}"}
        async with aiohttp.ClientSession() as session:
            while cursor < self.until:
                try:
                    async with session.ws_connect(self.url + protocol.stream_path(self.shop.shop, cursor),
                                                  headers=headers, heartbeat=5) as ws:
                        self.connects += 1
                        async for msg in ws:
                            if msg.type is not aiohttp.WSMsgType.TEXT:
                                continue
                            frame = json.loads(msg.data)
                            if frame["type"] == "event":
                                self.seqs.append(frame["seq"])
                                self.order_ids.append(frame["event"]["order_id"])
                                cursor = frame["seq"]
                                if cursor >= self.until:
                                    break
                        self.close_codes.append(ws.close_code)
                except (aiohttp.ClientError, OSError):
                    self.close_codes.append(None)
                if not reconnect:
                    return
                await asyncio.sleep(0.05)


def run_followers(followers: list[Follower], work, timeout: float, **kwargs) -> None:
    """Start the followers, wait until each is connected, run `work()` on a thread, wait for all."""

    async def main():
        tasks = [asyncio.ensure_future(f.run(**kwargs)) for f in followers]
        deadline = time.monotonic() + 10
        while any(f.connects == 0 for f in followers):
            assert time.monotonic() < deadline, "every client connected"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # subscribed and replayed
        await asyncio.to_thread(work)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)

    asyncio.run(main())


def test_events_ingested_on_any_gateway_reach_clients_on_every_gateway_once_in_order(platform, shop):
    count = 60
    followers = [Follower(platform.gateway_url(i), shop, count) for i in range(3)]
    followers.append(Follower(platform.nginx_url, shop, count))

    def ingest_round_robin():
        for n in range(1, count + 1):
            assert publish(platform.gateway_url(n % 3), shop, str(n)) == n

    run_followers(followers, ingest_round_robin, 30)
    for follower in followers:
        assert follower.seqs == list(range(1, count + 1)), follower.url
        assert follower.order_ids == [str(n) for n in range(1, count + 1)]


def test_two_gateways_ingesting_for_one_shop_at_once_number_without_gaps_or_reuse(platform, shop):
    got: dict[int, list[int]] = {0: [], 1: []}

    def ingest(i: int) -> None:
        for n in range(150):
            got[i].append(publish(platform.gateway_url(i), shop, f"g{i}-{n}"))

    threads = [threading.Thread(target=ingest, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got[0] + got[1]) == list(range(1, 301)), "contiguous, none reused"
    assert got[0] == sorted(got[0]) and got[1] == sorted(got[1])
    stored = platform.store.events_after(shop.shop, 0, 1000)
    assert [seq for seq, _, _ in stored] == list(range(1, 301))


def test_rotating_the_token_on_one_gateway_closes_the_old_streams_on_all_three(platform, shop):
    followers = [Follower(platform.gateway_url(i), shop, 10**9) for i in range(3)]

    def rotate() -> None:
        done = subprocess.run([sys.executable, "-m", "notifier", "server", "--store", platform.redis.url,
                               "rotate-token", shop.shop], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr

    started = time.monotonic()
    run_followers(followers, rotate, 10, reconnect=False)
    assert time.monotonic() - started < 8
    for follower in followers:
        assert follower.close_codes == [CLOSE_TOKEN_REVOKED], follower.url


@pytest.mark.slow
def test_a_gateway_killed_mid_stream_loses_its_clients_to_the_others_and_they_miss_nothing(platform, shop):
    count = 5000
    followers = [Follower(platform.nginx_url, shop, count) for _ in range(6)]
    victim = platform.gateways[1]

    def ingest_and_kill():
        for n in range(1, count + 1):
            publish(platform.nginx_url, shop, str(n))
            if n == count // 3:
                victim.kill()

    try:
        run_followers(followers, ingest_and_kill, 120)
    finally:
        if victim.proc.poll() is not None:
            victim.start()  # for the tests after this one
    reconnected = sum(1 for f in followers if f.connects > 1)
    assert reconnected >= 1, "least_conn spread the clients, so the killed gateway had some"
    for follower in followers:
        assert follower.seqs == list(range(1, count + 1)), f"{follower.connects} connections"


@pytest.mark.slow
def test_every_event_answered_2xx_survives_a_killed_redis_server(platform, shop):
    """AOF with appendfsync always: what Redis acknowledged is on disk, so SIGKILL loses none of it."""
    count = 300
    followers = [Follower(platform.gateway_url(i), shop, count) for i in range(3)]
    acknowledged: list[int] = []

    def ingest():
        for n in range(1, count + 1):
            acknowledged.append(publish(platform.nginx_url, shop, str(n), deadline_s=30))

    def ingest_and_kill_redis():
        publisher = threading.Thread(target=ingest)
        publisher.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < count // 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        platform.redis.kill()  # while requests are on their way
        time.sleep(0.3)
        platform.redis.start()
        publisher.join(60)

    run_followers(followers, ingest_and_kill_redis, 60)
    assert acknowledged == list(range(1, count + 1))
    for follower in followers:
        assert follower.seqs == list(range(1, count + 1)), follower.url
    for gateway in platform.gateways:  # a Redis restart is a warning line, not a traceback
        assert "Traceback" not in gateway.log_file.read_text(errors="replace"), gateway.log_file


def test_the_server_refuses_a_redis_without_persistence_unless_told(tmp_path):
    volatile = RedisServer(tmp_path / "volatile")
    volatile.start()
    try:
        with volatile.client() as client:
            client.config_set("appendonly", "no")
            client.config_set("save", "")
        port = free_port()
        command = [sys.executable, "-m", "notifier", "server", "--store", volatile.url, "--port", str(port), "run"]
        refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0
        assert "--allow-volatile" in refused.stderr and "Traceback" not in refused.stderr
        allowed = ServerProcess(tmp_path / "gw", port, "--store", volatile.url, "--allow-volatile")
        allowed.start()
        allowed.stop()
    finally:
        volatile.stop()


def test_a_redis_that_refuses_config_is_not_trusted_blindly(tmp_path):
    managed = RedisServer(tmp_path / "managed", extra=("--rename-command", "CONFIG", ""))
    managed.start()
    try:
        done = subprocess.run([sys.executable, "-m", "notifier", "server", "--store", managed.url, "--port",
                               str(free_port()), "run"], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and "CONFIG GET is refused" in done.stderr and "Traceback" not in done.stderr
    finally:
        managed.stop()


def test_a_store_url_that_is_not_redis_or_cannot_be_reached_is_one_sentence(tmp_path):
    for url, words in (("mysql://x", "redis://"), (f"redis://127.0.0.1:{free_port()}/0", "Redis store cannot be used"),
                       ("redis://127.0.0.1:1/0?nosuchoption=1", "Redis store cannot be used")):
        done = subprocess.run([sys.executable, "-m", "notifier", "server", "--store", url, "list-shops"],
                              cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    # The address may come from the environment instead (a password is safer there than in argv).
    from_env = subprocess.run([sys.executable, "-m", "notifier", "server", "list-shops"], cwd=REPO,
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, "NOTIFIER_STORE": f"redis://:s3cret@127.0.0.1:{free_port()}/0"})
    assert from_env.returncode != 0 and "Redis store cannot be used" in from_env.stderr
    assert "s3cret" not in from_env.stderr


def test_an_orders_whole_life_and_the_shops_closing_through_nginx(platform, shop):
    """派送, 完成, 取消 and 打烊 / 营业 sent through nginx to whichever gateway it picks; a PC on
    another gateway sees every step in order, and the day's figures agree on every gateway."""
    import websocket

    token = shop.client_token
    ws = websocket.create_connection(platform.gateway_url(2).replace("http", "ws", 1)
                                     + protocol.stream_path(shop.shop, 0),
                                     header=[f"Authorization: Bearer {token}"], timeout=10)
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        publish(platform.gateway_url(0), shop, "1")
        publish(platform.gateway_url(1), shop, "2")
        steps = [("1", "accept"), ("1", "deliver"), ("1", "complete"), ("2", "accept"), ("2", "cancel")]
        for order, action in steps:
            protocol.send_order_action(platform.nginx_url, shop.shop, token, order, action, reason="缺货")
        with pytest.raises(PublishError) as refused:
            protocol.send_order_action(platform.nginx_url, shop.shop, token, "1", "deliver")
        assert (refused.value.status, refused.value.answer["outcome"]) == (409, "completed")
        protocol.set_shop_open(platform.nginx_url, shop.shop, token, False)
        publish(platform.gateway_url(0), shop, "3")
        kinds, marks = [], []
        while len(kinds) < 9:
            frame = json.loads(ws.recv())
            if frame["type"] == "event":
                kinds.append(frame["event"]["kind"])
                marks.append(protocol.arrived_while_closed(frame))
        assert kinds == ["new_order", "new_order", "accepted", "out_for_delivery", "completed", "accepted",
                         "cancelled_by_shop", "shop_closed", "new_order"]
        assert marks == [False] * 8 + [True]
    finally:
        ws.close()
    for i in range(3):
        assert protocol.shop_status(platform.gateway_url(i), shop.shop, token)["status"] == "closed"
        day = protocol.today_figures(platform.gateway_url(i), shop.shop, token)
        assert (day["orders"], day["by_state"]["completed"], day["by_state"]["cancelled_by_shop"],
                day["arrived_while_closed"]) == (3, 1, 1, 1)
