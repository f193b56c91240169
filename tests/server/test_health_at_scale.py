"""With a million stored events: the server starts as fast as with an empty store (expiry of a
backlog runs in the background, in batches), /healthz stays O(1) and ingest stays fast while
it is probed — whether the events are all kept or all past their retention."""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port, wait_until
from server_helpers import REPO, ServerProcess

from notifier.core.protocol import publish_order
from notifier.server.store import EventStore

pytestmark = pytest.mark.slow
EVENTS = 1_000_000


def fill(data_dir: Path, events: int, age_days: float) -> str:
    """A store whose one shop has `events` events, `age_days` old; returns the ingest secret."""
    store = EventStore(data_dir)
    secret = store.add_shop("alpha").ingest_secret
    store.close()
    body = json.dumps({"kind": "new_order", "order_id": "1", "order_number": None, "amount": None,
                       "currency": "CNY", "customer": None, "text": None, "occurred_at": None})
    old = time.time() - age_days * 86400
    db = sqlite3.connect(data_dir / "events.sqlite3")
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.executemany("INSERT INTO events VALUES ('alpha', ?, ?, ?)",
                       ((n, old + n * 1e-4, body) for n in range(1, events + 1)))
        db.execute("UPDATE shops SET last_seq=?", (events,))
    db.close()
    assert secret
    return secret


def probe(port: int) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
    return time.perf_counter() - started


def time_to_first_health(data_dir: Path) -> tuple[ServerProcess, float]:
    server = ServerProcess(data_dir, free_port())
    started = time.monotonic()
    server.start(timeout=30)
    return server, time.monotonic() - started


@pytest.mark.parametrize("age_days", [1, 30], ids=["kept", "expired"])  # the retention is 7 days
def test_a_million_events_delay_neither_start_up_nor_health_nor_ingest(tmp_path, age_days):
    empty_dir, big_dir = tmp_path / "empty", tmp_path / "big"
    EventStore(empty_dir).add_shop("alpha")
    secret = fill(big_dir, EVENTS, age_days=age_days)

    baseline, empty_start = time_to_first_health(empty_dir)
    baseline.stop()
    server, big_start = time_to_first_health(big_dir)
    try:
        health, ingest = [], []
        for n in range(40):
            health.append(probe(server.port))
            started = time.perf_counter()
            publish_order(f"http://127.0.0.1:{server.port}", "alpha", secret, order_id=f"new-{n}", timeout=5)
            ingest.append(time.perf_counter() - started)
        pruned = 0
        if age_days > 7:
            db = sqlite3.connect(f"file:{big_dir / 'events.sqlite3'}?mode=ro", uri=True)
            pruned = wait_until(lambda: db.execute("SELECT pruned_through FROM shops").fetchone()[0], 20,
                                message="expiry progressing in the background")
            db.close()
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


def test_list_shops_still_counts_what_is_kept(tmp_path):
    fill(tmp_path / "server", 1000, age_days=0)
    done = subprocess.run([sys.executable, "-m", "notifier", "server", "--data-dir", str(tmp_path / "server"),
                           "list-shops"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert "1000 events kept" in done.stdout
