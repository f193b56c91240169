"""The whole path of the project's own protocol with real processes: an order system publishing,
the reference server killed and restarted under it, and a client that must end up with every
order exactly once, in order. Plus the demo a newcomer starts first."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import Client, ServerProcess, client_settings  # noqa: E402

from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.protocol import PublishError, publish_order, token_hash  # noqa: E402
from notifier.core.sources.notifier_stream import parse_cursor  # noqa: E402
from notifier.server.store import EventStore  # noqa: E402

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_thousand_orders_survive_five_server_kills_and_random_disconnects(tmp_path):
    total, kills = 1000, 5
    rng = random.Random(20240531)
    store = EventStore(tmp_path / "server")
    creds = store.add_shop("noodle")
    store.close()
    server = ServerProcess(tmp_path / "server", free_port())
    server.start()
    client = Client(client_settings(f"ws://127.0.0.1:{server.port}", "noodle"),
                    tmp_path / "ledger.sqlite3", creds.client_token)
    published = 0
    retries = 0
    done = threading.Event()
    deadline = time.monotonic() + 60

    def publisher() -> None:
        nonlocal published, retries
        for n in range(total):
            while time.monotonic() < deadline:
                try:
                    # The same idempotency key on every retry: a POST the server committed just
                    # before it was killed returns its first result instead of a second event.
                    publish_order(f"http://127.0.0.1:{server.port}", "noodle", creds.ingest_secret,
                                  order_id=str(n), amount=f"{n}.{n % 100:02d}", idempotency_key=f"order-{n}",
                                  timeout=2)
                    time.sleep(0.002)  # an order system's pace, so disconnects land mid-stream
                    break
                except PublishError as exc:
                    assert exc.status == 0 or exc.status >= 500, exc
                    retries += 1
                    time.sleep(0.02)
            published = n + 1
        done.set()

    cut_while_connected = 0

    def disconnector() -> None:
        nonlocal cut_while_connected
        while not done.wait(rng.uniform(0.05, 0.3)):
            cut_while_connected += client.state is ConnState.CONNECTED
            client.source.reconnect_now()

    threads = [threading.Thread(target=publisher), threading.Thread(target=disconnector)]
    for thread in threads:
        thread.start()
    try:
        for k in range(1, kills + 1):
            wait_until(lambda k=k: published >= k * total // (kills + 1) or done.is_set(), 30,
                       message=f"publishing progressed to kill {k}")
            server.kill()
            time.sleep(rng.uniform(0.0, 0.3))
            server.start()
        assert done.wait(45), f"published only {published}"
        wait_until(lambda: client.ledger.count() >= total, 30,
                   message=f"client ledger has {client.ledger.count()} of {total}")
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
        ids = client.ledger_order_ids()
        cursor = client.ledger.cursor(client.source.cursor_name)
        connections = client.source.connections
        client.stop()
        server.stop()
    assert server.starts == kills + 1 and retries > 0, "publishing really hit the dead server"
    assert cut_while_connected >= 3 and connections > 3, "the client was cut off mid-stream too"
    assert ids == [str(n) for n in range(total)], "every order once, in publishing order"
    assert parse_cursor(cursor)[1] == total
    assert client.orders and len(client.orders) == total


def test_a_replaced_server_store_is_read_from_its_start_not_resumed_blindly(tmp_path):
    """The server's data directory is swapped for another one (restored from elsewhere) whose
    last sequence number is already past the client's cursor: the client must get all of the new
    store's orders, not only those after its old position."""
    import sqlite3

    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    store = EventStore(old_dir)
    creds = store.add_shop("noodle")
    store.close()
    replacement = EventStore(new_dir)
    replacement.add_shop("noodle")
    replacement.close()
    with sqlite3.connect(new_dir / "events.sqlite3") as db:  # the same client token in both
        db.execute("UPDATE shops SET token_hash=? WHERE name='noodle'", (token_hash(creds.client_token),))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ServerProcess(old_dir, port)
    server.start()
    ledger = tmp_path / "ledger.sqlite3"
    client = Client(client_settings(f"ws://127.0.0.1:{port}", "noodle"), ledger, creds.client_token)
    try:
        for n in range(5):
            publish_order(url, "noodle", creds.ingest_secret, order_id=f"old-{n}")
        wait_until(lambda: len(client.orders) == 5, 10, message="the first store's orders")
    finally:
        client.stop()
        server.stop()
    new_secret = (new_dir / "ingest-secrets" / "noodle").read_text().strip()
    server = ServerProcess(new_dir, port)
    server.start()
    try:
        for n in range(15):
            publish_order(url, "noodle", new_secret, order_id=f"new-{n}")
        client = Client(client_settings(f"ws://127.0.0.1:{port}", "noodle"), ledger, creds.client_token)
        try:
            wait_until(lambda: len(client.orders) >= 15, 10, message="all 15 orders of the new store")
        except AssertionError:
            raise AssertionError(f"missed orders: got only {[o.order_id for o in client.orders]}") from None
        assert [o.order_id for o in client.orders] == [f"new-{n}" for n in range(15)]
        assert parse_cursor(client.ledger.cursor(client.source.cursor_name))[1] == 15
    finally:
        client.stop()
        server.stop()


def test_listen_demo_prints_an_order_within_seconds(tmp_path):
    env = {**os.environ, "NOTIFIER_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "listen", "--demo"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[dict] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        order = wait_until(lambda: next((x for x in lines if x["event"] == "order"), None), 10,
                           message="an order line from the demo")
    finally:
        proc.terminate()
        proc.wait(10)
        reader.join(5)
    assert order["kind"] == "new_order" and order["source"] == "notifier" and order["amount"] > 0
    assert any(x["event"] == "connection" and x["state"] == "connected" for x in lines)
    assert proc.returncode == 0, "SIGTERM ends the listener cleanly"
    assert not list((tmp_path / "home" / "data" / "demo").glob("*.sqlite3")), "demo ledger cleaned up"
