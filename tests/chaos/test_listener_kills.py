"""`notifier listen` SIGKILLed again and again at random moments while orders stream in from the
reference server: every order is printed at least once and at most twice.

Why it could be twice: the listener marks an order told only after its line is flushed, and
the mark is in the told log one `write` later (a few microseconds, more if the process is
preempted right there). A kill inside that moment prints the order once more at the next start,
noted "received while the app was stopping". Why it is never zero: the mark is never written
before the line, and on start every order stored but not marked is printed first.
(Today's code without told marks: a kill between
the ledger commit and the line lost that order for good, 11 times in 230 kills.)
"""

from __future__ import annotations

import collections
import random
import threading
import time

import pytest
from chaos_support import scaled
from helpers import free_port, wait_until

from notifier.core import paths
from notifier.core.ledger import Ledger
from notifier.core.protocol import PublishError, publish_order
from notifier.server.config import ServerConfig
from notifier.server.runner import ServerThread
from notifier.server.store import EventStore
from tests.fakes.listener_process import ListenerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LATE = "Received while the app was stopping"
FAST = ["--set", "connection.ping_interval=5", "--set", "connection.ping_timeout=2",
        "--set", "connection.connect_timeout=2", "--set", "general.language=en"]


def kill_amid_orders(listener: ListenerProcess, rng: random.Random) -> None:
    """Wait for a random number of this life's order lines, then a random fraction of a
    millisecond: the kill lands while the rest of its catch-up burst is being stored and printed,
    where the gap between the two steps is, instead of in the idle time between orders."""
    lines = rng.randint(0, 4)
    try:
        wait_until(lambda: len(listener.orders()) >= lines, 1.0, interval=0.0005)
    except AssertionError:
        pass  # fewer orders for this life: it dies idle
    time.sleep(rng.uniform(0.0, 0.002))


def test_every_order_is_printed_once_or_twice_through_200_kills(tmp_path, notifier_home, keyring_session):
    """1,000 orders and 200 SIGKILLs asked for; by default a quarter of the kills (50, about 25 s:
    all 200 took 90-120 s, the suite's limit on a loaded machine), which still finds the old loss
    (1 kill in 20) with 92 % odds per run; NOTIFIER_CHAOS_SCALE=1 runs the 200."""
    total = 1000
    kills = scaled(200, 50)
    rng = random.Random(7_16 + kills)
    store = EventStore(tmp_path / "server")
    shop = store.add_shop("noodle")
    server = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=free_port()), store=store)
    port = server.start()
    keyring_session.set_secret("notifier_token", shop.client_token)
    args = ["--protocol", "notifier", "--url", f"ws://127.0.0.1:{port}", "--shop", "noodle", *FAST]
    base = f"http://127.0.0.1:{port}"

    killed = 0
    published = 0
    failures: list[str] = []
    stop = threading.Event()

    def publisher() -> None:
        # About total/kills orders per life of a listener, so every life has some to print.
        nonlocal published
        for n in range(total):
            while not stop.is_set() and killed < kills and n >= (killed + 1) * total // kills:
                time.sleep(0.005)
            try:
                publish_order(base, "noodle", shop.ingest_secret, order_id=str(n), amount="9.90",
                              idempotency_key=f"order-{n}", timeout=5)
            except PublishError as exc:
                failures.append(f"order {n}: {exc}")
                return
            published = n + 1
            time.sleep(rng.uniform(0.0, 0.005))

    lives: list[ListenerProcess] = []
    thread = threading.Thread(target=publisher, name="publisher")
    started = time.monotonic()
    thread.start()
    try:
        for k in range(kills):
            listener = ListenerProcess(args, home=notifier_home, env=keyring_session.env, log_level="WARNING")
            lives.append(listener)
            if k % 4 == 0:
                time.sleep(rng.uniform(0.0, 0.5))  # anywhere: starting, telling the untold, connecting
            else:
                listener.wait_state("connected", 15)
                kill_amid_orders(listener, rng)
            listener.kill9()
            killed = k + 1
        thread.join(60)
        assert not failures, failures[:5]
        assert published == total
        last = ListenerProcess(args, home=notifier_home, env=keyring_session.env, log_level="WARNING")
        lives.append(last)
        last.wait_state("connected", 15)
        printed = lambda: {o["order_id"] for life in lives for o in life.orders()}  # noqa: E731
        wait_until(lambda: len(printed()) >= total, 30,
                   message=f"every order printed; missing {sorted(set(map(str, range(total))) - printed())[:20]}")
        time.sleep(0.3)  # a second printing would show up now
        assert last.terminate() == 0
    finally:
        stop.set()
        thread.join(10)
        for life in lives:
            life.close()
        server.stop()
        store.close()
    elapsed = time.monotonic() - started

    counts = collections.Counter(o["order_id"] for life in lives for o in life.orders())
    late = [o for life in lives for o in life.orders() if o.get("late")]
    assert all((o.get("text") or "").startswith(LATE) for o in late), "a late line says why"
    twice = sorted((order for order, n in counts.items() if n == 2), key=int)
    print(f"\n{total} orders, {kills} kills, {elapsed:.1f} s: {len(late)} printed late at a start, "
          f"{len(twice)} printed twice {twice[:20]}")
    assert set(counts) == {str(n) for n in range(total)}, "every order printed"
    assert max(counts.values()) <= 2, [o for o, n in counts.items() if n > 2]
    late_ids = collections.Counter(o["order_id"] for o in late)
    assert all(late_ids[order] >= 1 for order in twice), "a second printing is always the late one"
    ledger = Ledger(paths.ledger_file())
    try:
        assert ledger.count() == total and ledger.untold() == [], "after a clean stop, all told"
    finally:
        ledger.close()
