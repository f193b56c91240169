"""With a million stored events: the server starts as fast as with an empty store (expiry of a
backlog runs in the background, in batches), /healthz stays O(1) and ingest stays fast while
it is probed — whether the events are all kept or all past their retention. On SQLite and on
Redis (one stream of a million entries; the server only ever reads a stream by range)."""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import pytest
from helpers import free_port, wait_until
from server_helpers import REPO, ServerProcess, StoreLocation, server_forker

from notifier.core.protocol import publish_order

pytestmark = [pytest.mark.slow, pytest.mark.measures_time]
BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)
EVENTS = 1_000_000


def add_shop(where: StoreLocation) -> str:
    """The store's one shop; returns its ingest secret."""
    store = where.open()
    secret = store.add_shop("alpha").ingest_secret
    store.close()
    assert secret
    return secret


def fill(where: StoreLocation, events: int, age_days: float) -> None:
    """`events` events for the shop, `age_days` old, written straight into the store."""
    body = json.dumps({"kind": "new_order", "order_id": "1", "order_number": None, "amount": None,
                       "currency": "CNY", "customer": None, "text": None, "occurred_at": None})
    old = time.time() - age_days * 86400
    if where.url:
        fill_redis(where.url, events, old, body)
        return
    db = sqlite3.connect(where.data_dir / "events.sqlite3")
    db.execute("PRAGMA synchronous=OFF")
    with db:  # the rows made by SQLite itself: half the time of a million Python tuples
        db.execute("WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?) "
                   "INSERT INTO events(shop, seq, received_at, body) SELECT 'alpha', seq, ? + seq * 1e-4, ? FROM n",
                   (events, old, body))
        db.execute("UPDATE shops SET last_seq=?", (events,))
    db.close()


# KEYS: meta, log  ARGV: first seq, last seq, received_at of seq 0, event json. The entries the
# store's append script writes, without the round trip per event (a million take ~5 s).
_FILL = """
local identity = redis.call('HGET', KEYS[1], 'identity')
local first, last, at0 = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for n = first, last do
  redis.call('XADD', KEYS[2], n .. '-0', 'at', string.format('%.4f', at0 + n * 1e-4), 'ev', ARGV[4], 'id', identity)
end
redis.call('HSET', KEYS[1], 'last_seq', last)
"""


def fill_redis(url: str, events: int, old: float, body: str) -> None:
    import redis

    from notifier.server.redis_store import log_key, meta_key

    with redis.Redis.from_url(url) as client:
        script = client.register_script(_FILL)
        for first in range(1, events + 1, 50_000):  # each call blocks Redis for a quarter second at most
            script(keys=[meta_key("alpha"), log_key("alpha")], args=[first, min(events, first + 49_999), old, body])


def pruned_through(where: StoreLocation) -> Callable[[], int]:
    """Reads the shop's highest expired seq from outside the server."""
    if where.url:
        store = where.open()
        return lambda: store.shop("alpha").pruned_through
    db = sqlite3.connect(f"file:{where.data_dir / 'events.sqlite3'}?mode=ro", uri=True)
    return lambda: db.execute("SELECT pruned_through FROM shops").fetchone()[0]


def probe(port: int) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
    return time.perf_counter() - started


def time_to_first_health(where: StoreLocation) -> tuple[ServerProcess, float]:
    # Forked from a parent with the server imported: what is timed is the server's own start-up
    # (opening the store, recovery, binding), not the interpreter importing aiohttp.
    server = ServerProcess(where.data_dir, free_port(), store_url=where.url)
    server_forker()  # started (and its imports done) before the clock starts
    started = time.monotonic()
    server.start(timeout=30)
    return server, time.monotonic() - started


@pytest.mark.parametrize("age_days", [1, 30], ids=["kept", "expired"])  # the retention is 7 days
def test_a_million_events_delay_neither_start_up_nor_health_nor_ingest(store_location, age_days):
    secret = add_shop(store_location)
    baseline, empty_start = time_to_first_health(store_location)  # the same store, still empty
    baseline.stop()
    fill(store_location, EVENTS, age_days=age_days)
    server, big_start = time_to_first_health(store_location)
    try:
        health, ingest = [], []
        for n in range(40):
            health.append(probe(server.port))
            started = time.perf_counter()
            publish_order(f"http://127.0.0.1:{server.port}", "alpha", secret, order_id=f"new-{n}", timeout=5)
            ingest.append(time.perf_counter() - started)
        pruned = 0
        if age_days > 7:
            pruned = wait_until(pruned_through(store_location), 20, message="expiry progressing in the background")
    finally:
        server.stop()
    report = (f"start-up {big_start:.2f} s (empty store {empty_start:.2f} s); /healthz p50 "
              f"{statistics.median(health) * 1000:.1f} ms max {max(health) * 1000:.1f} ms; ingest p50 "
              f"{statistics.median(ingest) * 1000:.1f} ms max {max(ingest) * 1000:.1f} ms; pruned through {pruned}")
    print(report)
    assert big_start - empty_start < 1.0, report
    assert statistics.median(health) < 0.02, report
    assert statistics.median(ingest) < 0.05, report
    assert pruned > 0 or age_days < 7


def test_list_shops_still_counts_what_is_kept(store_location):
    add_shop(store_location)
    fill(store_location, 1000, age_days=0)
    done = subprocess.run([sys.executable, "-m", "notifier", "server", *store_location.args,
                           "list-shops"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert "1000 events kept" in done.stdout
