"""A signed request replayed within the replay window is refused, on the SQLite store too, across
restarts, upgrades and a move to Redis; and one server process serves a SQLite data folder.

These are SQLite-store facts: each event keeps its nonce in its own row and the serving process
keeps the last 15 minutes' nonces in memory (the Redis store keeps them as keys with an expiry,
tested with the rest of the suite on both stores)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

from helpers import free_port
from server_helpers import REPO, ServerProcess, start_server
from test_ingest import post
from test_migrate import migrate

from notifier.core import protocol
from notifier.server.store import NONCE_KEEP_S, EventStore

EVENT = {"kind": "new_order", "order_id": "1"}


def one_order_then_stop(data_dir) -> tuple[bytes, dict]:
    """A server on `data_dir` stores one signed order and stops; returns the request, to replay."""
    server = start_server(data_dir, shops=("alpha",))
    body = json.dumps({"order_id": "paid-1"}).encode()
    headers = protocol.signed_headers(server.shops["alpha"].ingest_secret, body)
    try:
        assert post(server, "alpha", body, headers)[0] == 201
    finally:
        server.thread.stop()
        server.store.close()
    return body, headers


def test_a_request_replayed_after_a_server_restart_is_refused(tmp_path):
    body, headers = one_order_then_stop(tmp_path)
    again = start_server(tmp_path, shops=())
    try:
        status, answer = post(again, "alpha", body, headers)
        assert (status, answer["error"]) == (409, "nonce_reused")
        assert [seq for seq, _, _ in again.store.events_after("alpha", 0)] == [1], "stored once"
    finally:
        again.thread.stop()
        again.store.close()


def test_a_store_from_before_keeps_refusing_the_nonces_it_recorded(tmp_path):
    # The layout of the previous release: nonces in their own table, events without a nonce.
    with closing(sqlite3.connect(tmp_path / "events.sqlite3")) as db:
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE shops (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created_at REAL NOT NULL,
                                last_seq INTEGER NOT NULL DEFAULT 0, pruned_through INTEGER NOT NULL DEFAULT 0,
                                identity TEXT);
            CREATE TABLE events (shop TEXT NOT NULL, seq INTEGER NOT NULL, received_at REAL NOT NULL,
                                 body TEXT NOT NULL, PRIMARY KEY (shop, seq)) WITHOUT ROWID;
            CREATE TABLE nonces (shop TEXT NOT NULL, nonce TEXT NOT NULL, created_at REAL NOT NULL,
                                 PRIMARY KEY (shop, nonce)) WITHOUT ROWID;
        """)
        now = time.time()
        db.execute("INSERT INTO shops VALUES ('alpha', 'x', ?, 1, 0, 'old-identity')", (now,))
        db.execute("INSERT INTO events VALUES ('alpha', 1, ?, '{\"order_id\":\"1\"}')", (now,))
        db.execute("INSERT INTO nonces VALUES ('alpha', 'recorded-nonce-0001', ?)", (now - 60,))
        db.execute("INSERT INTO nonces VALUES ('alpha', 'expired-nonce-00001', ?)", (now - NONCE_KEEP_S - 60,))
        db.commit()
    store = EventStore(tmp_path)
    try:
        replay = store.append("alpha", EVENT, nonce="recorded-nonce-0001", idempotency_key=None, body=b"x")
        assert replay.nonce_reused
        fresh = store.append("alpha", EVENT, nonce="expired-nonce-00001", idempotency_key=None, body=b"y")
        assert (fresh.seq, fresh.nonce_reused) == (2, False), "a nonce past the window is not kept forever"
        assert [seq for seq, _, _ in store.events_after("alpha", 0)] == [1, 2]
    finally:
        store.close()


def test_the_nonces_kept_in_memory_are_only_the_window_s(tmp_path):
    clock = [time.time()]
    store = EventStore(tmp_path, clock=lambda: clock[0])
    store.add_shop("alpha")
    try:
        for n in range(50):
            assert store.append("alpha", EVENT, nonce=f"nonce-{n:012d}", idempotency_key=None, body=b"x").seq == n + 1
        assert store.append("alpha", EVENT, nonce="nonce-000000000007", idempotency_key=None, body=b"x").nonce_reused
        clock[0] += NONCE_KEEP_S + 1
        store.append("alpha", EVENT, nonce="nonce-after-window", idempotency_key=None, body=b"x")
        assert len(store._nonces) == 1, "the window's nonces only: memory does not grow with the log"
    finally:
        store.close()


def test_recent_nonces_move_to_redis_with_their_shop(tmp_path, redis_server):
    with redis_server.client() as client:
        client.flushall()
    body, headers = one_order_then_stop(tmp_path / "old")
    assert migrate(tmp_path / "old", redis_server.url).returncode == 0

    new = start_server(tmp_path / "new", shops=(), store_url=redis_server.url)
    try:
        status, answer = post(new, "alpha", body, headers)
        assert (status, answer["error"]) == (409, "nonce_reused")
    finally:
        new.thread.stop()
        new.store.close()


def test_a_second_server_on_the_same_data_folder_is_refused_with_a_sentence(tmp_path):
    data = tmp_path / "srv"
    EventStore(data).close()
    first = ServerProcess(data, free_port())
    first.start()
    try:
        second = subprocess.run([sys.executable, "-m", "notifier", "server", "--data-dir", str(data), "--port",
                                 str(free_port()), "run"], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert "already serving" in second.stderr and str(data) in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.stop()
    # Once the first one has stopped, the folder is free again.
    first.start()
    first.stop()
