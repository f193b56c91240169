"""`notifier server migrate --from sqlite:DIR --to redis://…`: a shop moved from the single-process
server to the Redis gateways keeps its numbers, its identity and its tokens, so its clients
resume where they were and its order system's retries are still recognised."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
from helpers import free_port
from server_helpers import REPO, ServerProcess, start_server

from notifier.core import protocol
from notifier.core.protocol import PublishError, publish_order
from notifier.server.config import ServerConfig
from notifier.server.runner import ServerThread
from notifier.server.store import EventStore


def migrate(data_dir, url, *extra: str, back: bool = False) -> subprocess.CompletedProcess:
    """`notifier server migrate` from the data folder to Redis (or `back`)."""
    where = ["--from", url, "--to", f"sqlite:{data_dir}"] if back else ["--from", f"sqlite:{data_dir}", "--to", url]
    return subprocess.run([sys.executable, "-m", "notifier", "server", "migrate", *where, *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


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
        # Running it again after the gateways took an event of their own changes nothing: it
        # would have to renumber, and says so.
        again = migrate(old.data_dir, redis_server.url)
        assert again.returncode == 1 and "took 1 events of its own" in again.stdout
        assert [seq for seq, _, _ in new.store.events_after("alpha", 0)] == list(range(1, 9))
    finally:
        new.thread.stop()
        new.store.close()


def test_migrate_says_what_it_needs(tmp_path, redis_server):
    done = subprocess.run([sys.executable, "-m", "notifier", "server", "migrate", "--from", str(tmp_path),
                           "--to", redis_server.url], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "--from sqlite:" in done.stderr and "Traceback" not in done.stderr


def _ingest_status(server, shop: str, secret: str, order: str, key: str | None = None) -> tuple[int, dict]:
    try:
        return 201, publish_order(server.http_url, shop, secret, order_id=order, idempotency_key=key)
    except PublishError as exc:
        return exc.status, {"error": exc.reason}


def test_a_live_switch_loses_no_order_and_keeps_a_token_rotated_meanwhile(tmp_path, redis_server):
    """The documented move: a pass while the old server serves (--live), the switch, the old
    server stopped, a second pass."""
    with redis_server.client() as client:
        client.flushall()
    old = ServerProcess(tmp_path / "old", free_port())
    store = EventStore(tmp_path / "old")
    creds = store.add_shop("alpha")
    store.add_shop("gone")
    store.close()
    old.start()
    new = None
    try:
        for n in range(1, 6):
            publish_order(f"http://127.0.0.1:{old.port}", "alpha", creds.ingest_secret, order_id=str(n),
                          idempotency_key=f"{n}-paid")
        refused = migrate(tmp_path / "old", redis_server.url)
        assert refused.returncode == 2 and "A server is serving" in refused.stderr and "--live" in refused.stderr
        first = migrate(tmp_path / "old", redis_server.url, "--live")
        assert first.returncode == 0, first.stderr
        assert "alpha: 5 events copied" in first.stdout and "arriving" in first.stdout
        new = start_server(tmp_path / "new", shops=(), store_url=redis_server.url)
        # The gateways hold the shop: orders sent there are refused 503 (the order system retries).
        assert _ingest_status(new, "alpha", creds.ingest_secret, "x1")[0] == 503
        # Meanwhile the old server still takes orders, and the operator rotates the leaked token.
        for n in range(6, 16):
            publish_order(f"http://127.0.0.1:{old.port}", "alpha", creds.ingest_secret, order_id=str(n),
                          idempotency_key=f"{n}-paid")
        rotated = new.store.rotate("alpha")
        remover = EventStore(tmp_path / "old")
        remover.remove_shop("gone")
        remover.close()
        old.stop()
        second = migrate(tmp_path / "old", redis_server.url)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "alpha: 10 events copied; kept the client token rotated on the target" in second.stdout
        assert "gone: 0 events copied; removed" in second.stdout
        assert new.store.shop("gone") is None
        assert [e["order_id"] for _s, _a, e in new.store.events_after("alpha", 0)] == [str(n) for n in range(1, 16)]
        # Open now: the next order continues the numbering, a retry of a moved one is recognised.
        status, answer = _ingest_status(new, "alpha", creds.ingest_secret, "16")
        assert (status, answer["seq"]) == (201, 16)
        assert _ingest_status(new, "alpha", creds.ingest_secret, "12", key="12-paid")[1]["duplicate"] is True
        assert new.store.check_token("alpha", rotated.client_token)
        assert not new.store.check_token("alpha", creds.client_token), "the leaked token stays revoked"
    finally:
        old.stop()
        if new is not None:
            new.thread.stop()
            new.store.close()


def test_a_shop_moves_back_from_redis_to_a_data_folder(tmp_path, redis_server):
    with redis_server.client() as client:
        client.flushall()
    gateway = start_server(tmp_path / "gw", shops=("alpha",), store_url=redis_server.url)
    creds = gateway.shops["alpha"]
    try:
        for n in range(1, 8):
            gateway.publish(order_id=str(n), idempotency_key=f"{n}-paid")
        identity = gateway.store.shop("alpha").identity
        back = migrate(tmp_path / "back", redis_server.url, back=True)
        assert back.returncode == 0, back.stderr
        assert "alpha: 7 events copied" in back.stdout
        gateway.publish(order_id="8", idempotency_key="8-paid")
        again = migrate(tmp_path / "back", redis_server.url, back=True)
        assert "alpha: 1 events copied" in again.stdout
    finally:
        gateway.thread.stop()
        gateway.store.close()
    store = EventStore(tmp_path / "back")
    server = ServerThread(ServerConfig(data_dir=tmp_path / "back", port=0), store=store)
    port = server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        hello, frames = resume(url.replace("http", "ws"), "alpha", creds.client_token, 5, identity)
        assert (hello["store"], hello["reset"], hello["last_seq"]) == (identity, False, 8)
        assert [f["seq"] for f in frames] == [6, 7, 8]
        retry = publish_order(url, "alpha", creds.ingest_secret, order_id="8", idempotency_key="8-paid")
        assert (retry["seq"], retry["duplicate"]) == (8, True)
    finally:
        server.stop()
        store.close()
