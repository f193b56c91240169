"""The embedded demo: a newcomer sees orders arrive through the real path with nothing set up.

SQLite only, on purpose: the demo is embedded (`--demo` starts the server in-process on a
temporary SQLite folder it removes again); asking a newcomer for a Redis would defeat it. The
same path on Redis (signed ingest, live delivery of orders and reminders into a client's ledger)
runs in test_stream and test_ingest, on both stores."""

from __future__ import annotations

import subprocess
import sys

from helpers import wait_until

from notifier.core import paths
from notifier.core.connection import ConnState
from notifier.core.events import OrderKind
from notifier.server.demo import DemoServer


def test_the_demo_feeds_orders_and_reminders_through_the_signed_path(tmp_path):
    from server_helpers import Client

    demo = DemoServer(first_delay=0.05, interval=(0.05, 0.1), reminder_chance=0.4, seed=7)
    demo.start()
    try:
        ledger = demo.ledger_path()
        assert ledger.parent == paths.data_dir() / "demo" and not ledger.exists()
        client = Client(demo.client_settings(), ledger, demo.secrets().get("notifier_token")[0])
        try:
            client.wait_state(ConnState.CONNECTED)
            wait_until(lambda: any(e.kind is OrderKind.REMINDER for e in client.orders), 10,
                       message="a reminder for an earlier order")
            orders = [e for e in client.orders if e.kind is OrderKind.NEW_ORDER]
            assert orders and all(e.amount is not None and e.amount.as_tuple().exponent == -2 for e in orders)
            reminder = next(e for e in client.orders if e.kind is OrderKind.REMINDER)
            assert reminder.order_id in {e.order_id for e in orders}
        finally:
            client.stop()
    finally:
        demo.stop()
    assert not ledger.exists(), "the demo ledger is removed when the demo ends"


def test_demo_orders_mix_chinese_and_english_names():
    demo = DemoServer(seed=3)
    customers = [demo.next_order(n)["customer"] for n in range(60)]
    assert any(not c.isascii() for c in customers) and any(c.isascii() for c in customers)


def test_importing_the_demo_does_not_load_the_server():
    code = "import sys, notifier.server.demo; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"
