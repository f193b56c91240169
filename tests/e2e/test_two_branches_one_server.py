"""A chain owner's two branches on ONE server, in one tray: two connections of the same protocol to
the same back end, and both branches' order systems send an order "1001". They are two orders in
everything the shop sees and sends: accepting one branch's 1001 from its popup reaches that
branch's back end only while the other's 1001 keeps ringing with its popup up; a decision or a
cancellation of one stops only that one; the other's own accept reaches its own back end (not
taken for a double click of the first).

Two back ends: two queues on the machine's real RabbitMQ broker (each with its own reply queue:
one server label for both, where the orders used to be mixed up), and two shops on one real
reference server with another PC of one shop deciding through the server (its server label
carries the shop's name, so it kept the two apart before too: this one guards that).

Real parts: the tray app (`python -m notifier`), the harness session (notification recorder,
gnome-keyring, speech), the RabbitMQ node, the reference server."""

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
from test_two_pcs_two_shops import OTHER_SHOP, SHOP, two_shops  # noqa: E402, F401 - the server fixture

from notifier.core.connections import Connection, with_connections  # noqa: E402
from notifier.core.ledger import Ending  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.settings_file import save  # noqa: E402
from notifier.core.sources.amqp import AmqpPublisher  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.timeout(120)]

BRANCHES = {"east": "东门店", "west": "西门店"}


def ending(home: Path, connection_id: str) -> str | None:
    return (order_row(home, connection_id) or (None,))[0]


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


def keeps_ringing(app: App, notifications: NotificationLog, home: Path, connection_id: str, name: str,
                  popup: dict, after: str) -> None:
    """The connection's order 1001 is said again (a repeat), still waits in the history and its
    popup was never taken back by the app: `after` the other's news."""
    spoken = app.count(f"{name} new order")
    wait_until(lambda: app.count(f"{name} new order") > spoken, 10, message=f"{name}'s 1001 said again after {after}")
    assert still_ringing(home, connection_id), order_row(home, connection_id)
    assert popup["id"] not in notifications.closed_by_the_app(), f"{name}'s popup stays after {after}"


def start_tray(home: Path, settings: Settings) -> App:
    home.mkdir()
    config = home / "settings.toml"
    save(settings, config)
    return App(home, "--config", str(config), "--log-level", "INFO")


@pytest.mark.needs_system("rabbitmq")
def test_two_branches_on_one_broker_never_share_order_1001(tmp_path, fresh_keyring, account):  # noqa: F811
    from notifier.core.secrets import SecretStore

    home = tmp_path / "owner"
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
    store = SecretStore()
    for cid in BRANCHES:
        assert store.set(f"{cid}_amqp_password", account.password) is None
    app = start_tray(home, settings)
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
        wait_until(lambda: ending(home, "east") == Ending.ACCEPTED_HERE, 5,
                   message="东门店's 1001 accepted here")
        keeps_ringing(app, notifications, home, "west", "西门店", west, "东门店's accept")

        # The customer cancels 东门店's 1001: only that one ends.
        publishers["east"].publish({"type": "cancel", "order_id": "1001"})
        wait_until(lambda: ending(home, "east") == Ending.CANCELLED, 10,
                   message="东门店's 1001 cancelled")
        keeps_ringing(app, notifications, home, "west", "西门店", west, "东门店's cancellation")

        # 西门店's own 接单 goes to 西门店's back end, and only there.
        notifications.invoke_action(west["id"], "accept")
        assert wait_until(lambda: decisions("west"), 10, message="the accept reached 西门店") == \
            [("accepted", "1001")]
        wait_until(lambda: ending(home, "west") == Ending.ACCEPTED_HERE, 5,
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


def test_two_shops_on_one_reference_server_never_share_order_1001(tmp_path, fresh_keyring, two_shops):  # noqa: F811
    from notifier.core import protocol
    from notifier.core.secrets import SecretStore

    shops = {"a": ("面馆", SHOP), "b": ("茶馆", OTHER_SHOP)}
    store = SecretStore()
    for cid, (_name, shop) in shops.items():
        assert store.set(f"{cid}_notifier_token", two_shops.token(shop)) is None
    settings = with_connections(Settings({"general.language": "en", "alerts.repeat_interval": 1,
                                          "alerts.repeat_limit": 50}), tuple(
        Connection(cid, name).with_values({"connection.protocol": "notifier", "connection.shop": shop,
                                           "connection.url": f"ws://127.0.0.1:{two_shops.port}"})
        for cid, (name, shop) in shops.items()))
    home = tmp_path / "owner"
    app = start_tray(home, settings)
    try:
        for name, _shop in shops.values():
            app.wait_output(f"connection {name}: connected", timeout=30)
        notifications = NotificationLog()
        notifications.mark()
        two_shops.publish(SHOP, "1001", amount="23.50")
        two_shops.publish(OTHER_SHOP, "1001", amount="8.00")
        popups = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
            {e["summary"].split(" · ")[0]: e for e in notifications.entries() if "New order" in e["summary"]}),
            15, message="both shops' order 1001 notified")
        noodles, tea = popups["面馆"], popups["茶馆"]

        # 接单 on 面馆's popup: 面馆 alone accepted it at the server; 茶馆's 1001 keeps ringing.
        notifications.invoke_action(noodles["id"], "accept")
        wait_until(lambda: two_shops.decisions(SHOP) == ["accepted"], 10, message="the accept reached 面馆")
        keeps_ringing(app, notifications, home, "b", "茶馆", tea, "面馆's accept")
        assert two_shops.decisions(OTHER_SHOP) == []

        # Another PC of 茶馆 accepts its 1001 (its own stream): only 茶馆's popup is taken back.
        protocol.send_order_action(two_shops.http_url, OTHER_SHOP, two_shops.token(OTHER_SHOP), "1001",
                                   "accept", timeout=5)
        wait_until(lambda: ending(home, "b") == Ending.ACCEPTED_ELSEWHERE, 10, message="茶馆's 1001 decided elsewhere")
        notifications.wait_for(lambda e: e["id"] == tea["id"] and "accepted elsewhere" in e["summary"], timeout=5)
        assert ending(home, "a") == Ending.ACCEPTED_HERE, "面馆's own accept is not rewritten"
        assert not [e for e in notifications.entries() if e["id"] == noodles["id"] and "elsewhere" in e["summary"]]

        # The customer cancels 面馆's 1001: only that one ends (茶馆's stays accepted elsewhere).
        two_shops.publish(SHOP, "1001", kind="cancelled", text="不想要了")
        wait_until(lambda: ending(home, "a") == Ending.CANCELLED, 10, message="面馆's 1001 cancelled")
        two_shops.publish(OTHER_SHOP, "1002", amount="1.00")  # heard after the cancellation
        wait_until(lambda: any(e["summary"].startswith("茶馆 · New order") and "1002" in e["summary"]
                               for e in notifications.entries()), 10, message="茶馆's next order")
        assert ending(home, "b") == Ending.ACCEPTED_ELSEWHERE
    finally:
        app.stop()
