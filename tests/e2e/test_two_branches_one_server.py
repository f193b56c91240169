"""A chain owner's two branches on ONE server, in one tray: two connections of the same protocol to
the same back end ("东门店" and "西门店": two queues on the machine's real RabbitMQ broker, each
with its own reply queue, so the same server label), and both branches' order systems send an
order "1001". They are two orders in everything the shop sees and sends: accepting 东门店's 1001
from its popup reaches 东门店's back end only while 西门店's 1001 keeps ringing with its popup up;
the customer cancelling 东门店's 1001 stops only that one; 西门店's own accept then reaches
西门店's back end (not taken for a double click of 东门店's).

Real parts: the tray app (`python -m notifier`), the harness session (notification recorder,
gnome-keyring, speech), the RabbitMQ node. (The reference server does not need this: its
server label carries the shop's name, so two of its shops never shared an order id.)"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pika
import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_amqp import account  # noqa: E402, F401 - the broker fixture (skips without a broker)
from test_desktop_e2e import App  # noqa: E402

from notifier.core.connections import Connection, with_connections  # noqa: E402
from notifier.core.ledger import Ending  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.settings_file import save  # noqa: E402
from notifier.core.sources.amqp import AmqpPublisher  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.needs_system("rabbitmq"), pytest.mark.e2e,
              pytest.mark.timeout(120)]

BRANCHES = {"east": "东门店", "west": "西门店"}


def order_row(home: Path, connection_id: str) -> tuple | None:
    """(ended_how, acknowledged_at) of the branch's order 1001 in the app's history."""
    path = home / "data" / "ledger.sqlite3"
    if not path.exists():
        return None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
        return db.execute("SELECT ended_how, acknowledged_at FROM events WHERE order_id='1001' AND "
                          "kind='new_order' AND connection_id=?", (connection_id,)).fetchone()


def still_ringing(home: Path, connection_id: str) -> bool:
    row = order_row(home, connection_id)
    return row is not None and row == (None, None)


def test_two_branches_on_one_server_never_share_order_1001(tmp_path, fresh_keyring, account):  # noqa: F811
    from notifier.core.secrets import SecretStore

    home = tmp_path / "owner"
    home.mkdir()
    tag = uuid.uuid4().hex[:8]
    values = {cid: {"connection.protocol": "amqp", "connection.url": account.url,
                    "amqp.exchange": f"orders-{cid}-{tag}", "amqp.queue": f"orders-{cid}-{tag}",
                    "amqp.routing_key": "order", "amqp.reply_routing_key": f"decisions-{cid}-{tag}",
                    "json.kind_field": "type"} for cid in BRANCHES}
    broker = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", 5672, account.vhost, pika.PlainCredentials(account.user, account.password)))
    replies = broker.channel()
    for cid in BRANCHES:
        replies.queue_declare(f"decisions-{cid}-{tag}", durable=True)
    publishers = {cid: AmqpPublisher(Settings(values[cid]), account.password) for cid in BRANCHES}

    def decisions(cid: str) -> list[tuple[str, str]]:
        """What reached the branch's back end since the last look: (kind, order id) each."""
        got = []
        while (body := replies.basic_get(f"decisions-{cid}-{tag}", auto_ack=True)[2]) is not None:
            got.append((json.loads(body)["kind"], json.loads(body)["order_id"]))
        return got

    settings = with_connections(Settings({"general.language": "en", "alerts.repeat_interval": 1,
                                          "alerts.repeat_limit": 50}), tuple(
        Connection(cid, name).with_values(values[cid]) for cid, name in BRANCHES.items()))
    config = home / "settings.toml"
    save(settings, config)
    store = SecretStore()
    for cid in BRANCHES:
        assert store.set(f"{cid}_amqp_password", account.password) is None
    app = App(home, "--config", str(config), "--log-level", "INFO")
    try:
        for name in BRANCHES.values():
            app.wait_output(f"connection {name}: connected", timeout=30)
        notifications = NotificationLog()
        notifications.mark()
        publishers["east"].publish({"type": "new", "order_id": "1001", "order_amount": "23.50"})
        publishers["west"].publish({"type": "new", "order_id": "1001", "order_amount": "8.00"})
        popups = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
            {e["summary"].split(" · ")[0]: e for e in notifications.entries() if "New order" in e["summary"]}),
            15, message="both branches' order 1001 notified")
        east, west = popups["东门店"], popups["西门店"]
        assert "23.5" in east["body"] and "23.5" not in west["body"]

        # 接单 on 东门店's popup: 东门店's back end hears it; 西门店's 1001 keeps ringing.
        notifications.invoke_action(east["id"], "accept")
        assert wait_until(lambda: decisions("east"), 10, message="the accept reached 东门店") == \
            [("accepted", "1001")]
        wait_until(lambda: (order_row(home, "east") or (None,))[0] == Ending.ACCEPTED_HERE, 5,
                   message="东门店's 1001 accepted here")
        spoken = app.count("西门店 new order")
        wait_until(lambda: app.count("西门店 new order") > spoken, 10,
                   message="西门店's 1001 still said again (a repeat after the accept)")
        assert still_ringing(home, "west"), order_row(home, "west")
        assert west["id"] not in notifications.closed_by_the_app(), "西门店's popup stays"

        # The customer cancels 东门店's 1001: only that one ends.
        publishers["east"].publish({"type": "cancel", "order_id": "1001"})
        wait_until(lambda: (order_row(home, "east") or (None,))[0] == Ending.CANCELLED, 10,
                   message="东门店's 1001 cancelled")
        spoken = app.count("西门店 new order")
        wait_until(lambda: app.count("西门店 new order") > spoken, 10,
                   message="西门店's 1001 still rings after 东门店's cancellation")
        assert still_ringing(home, "west"), order_row(home, "west")
        assert west["id"] not in notifications.closed_by_the_app()

        # 西门店's own 接单 goes to 西门店's back end, and only there.
        notifications.invoke_action(west["id"], "accept")
        assert wait_until(lambda: decisions("west"), 10, message="the accept reached 西门店") == \
            [("accepted", "1001")]
        wait_until(lambda: (order_row(home, "west") or (None,))[0] == Ending.ACCEPTED_HERE, 5,
                   message="西门店's 1001 accepted here")
        assert decisions("east") == [], "东门店's back end heard only its own accept"
        assert order_row(home, "east")[0] == Ending.CANCELLED
    finally:
        app.stop()
        for publisher in publishers.values():
            publisher.close()
        for cid in BRANCHES:
            replies.queue_delete(f"decisions-{cid}-{tag}")
        broker.close()
