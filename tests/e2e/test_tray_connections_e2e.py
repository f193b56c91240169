"""The tray app with three connections at once, end to end: the sky-take-out double ("小程序",
with its admin account), the reference server ("总店", its token under its own keyring name) and
RabbitMQ ("美团", the real local broker, its password under its own keyring name, decisions
published to a reply queue). Orders on all three are notified (notification recorder) and spoken
with their connection's name; accepting an order goes back to its own back end only; the broker
going away and then the sky-take-out double stopping each change only their own connection's
state while the others keep ringing.

The broker is the machine's shared RabbitMQ node (other tests and engineers use it), so "the
broker stopped" is the broker's port going away for this app: 美团 reaches the broker through a
relay on 127.0.0.1 (tests.fakes.held_link) that the test closes, so the app's connection drops and
every reconnect is refused, exactly as with a stopped broker, without stopping the node."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pika
import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_amqp import account  # noqa: E402, F401 - the broker fixture (skips without a broker)
from test_desktop_e2e import SHOP, App, reference_server  # noqa: E402, F401

from notifier.core.connections import Connection, with_connections  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.settings_file import save  # noqa: E402
from notifier.core.sources.amqp import AmqpPublisher  # noqa: E402
from tests.fakes.held_link import HeldLink  # noqa: E402
from tests.fakes.skytakeout_server import WAITING, SkyTakeOutDouble  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.needs_system("rabbitmq"), pytest.mark.e2e,
              pytest.mark.slow, pytest.mark.timeout(180)]


def down(app: App, name: str) -> bool:
    return f"connection {name}: waiting" in app.output() or f"connection {name}: unreachable" in app.output()


def first_by_name(notifications: NotificationLog) -> dict[str, dict]:
    """The first "New order" popup since the mark, by the connection name leading its title."""
    firsts: dict[str, dict] = {}
    for entry in notifications.entries():
        if "New order" in entry["summary"]:
            firsts.setdefault(entry["summary"].split(" · ")[0], entry)
    return firsts


def test_three_connections_in_one_tray_ring_by_name_and_decide_through_their_own_back_end(
        tmp_path, reference_server, fresh_keyring, account):  # noqa: F811
    from notifier.core.secrets import SecretStore

    home = tmp_path / "shop"
    home.mkdir()
    tag = uuid.uuid4().hex[:8]
    amqp_values = {"connection.protocol": "amqp", "amqp.exchange": f"orders-{tag}",
                   "amqp.queue": f"orders-{tag}", "amqp.routing_key": "order",
                   "amqp.reply_routing_key": f"decisions-{tag}"}
    broker = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", 5672, account.vhost, pika.PlainCredentials(account.user, account.password)))
    decisions = broker.channel()
    decisions.queue_declare(f"decisions-{tag}", durable=True)
    relay = HeldLink(5672)
    publisher = AmqpPublisher(Settings({**amqp_values, "connection.url": account.url}), account.password)
    with SkyTakeOutDouble() as sky:
        settings = with_connections(Settings({"general.language": "en", "alerts.repeat_interval": 1,
                                              "alerts.repeat_limit": 50}), (
            Connection("main", "小程序").with_values({
                "connection.protocol": "skytakeout", "connection.url": sky.ws_url,
                "skytakeout.admin_url": sky.admin_url, "skytakeout.admin_user": sky.username}),
            Connection("c2", "总店", "#2a9d8f").with_values({
                "connection.protocol": "notifier", "connection.url": reference_server.url,
                "connection.shop": SHOP}),
            Connection("c3", "美团", "#e9c46a").with_values({
                **amqp_values,
                "connection.url": f"amqp://{account.user}@127.0.0.1:{relay.port}/{account.vhost}"})))
        config = home / "settings.toml"
        save(settings, config)
        store = SecretStore()
        assert store.set("skytakeout_admin_password", sky.password) is None
        assert store.set("c2_notifier_token", reference_server.token) is None  # 总店's own entry
        assert store.set("c3_amqp_password", account.password) is None  # 美团's own entry
        app = App(home, "--config", str(config), "--log-level", "INFO")
        try:
            for name in ("小程序", "总店", "美团"):
                app.wait_output(f"connection {name}: connected", timeout=30)
            sky.wait_for_clients()
            notifications = NotificationLog()
            notifications.mark()
            paid = sky.pay(amount="12.00")
            reference_server.publish("700001", order_number="4321", amount="88.00")
            publisher.publish({"order_id": "MT-9001", "order_amount": "23.50"})
            # The first popup of each connection (a repeat, every second here, may come between).
            shown = wait_until(lambda: (lambda f: f if len(f) == 3 else None)(first_by_name(notifications)), 15,
                               message="all three orders notified")
            assert shown["小程序"]["summary"].startswith("小程序 · New order")
            assert shown["总店"]["summary"] == "总店 · New order #4321"
            assert shown["美团"]["summary"].startswith("美团 · New order") and "MT-9001" in shown["美团"]["summary"]
            wait_until(lambda: all(f"{name} new order" in app.output() for name in ("小程序", "总店", "美团")),
                       15, message="all three orders spoken with their connection's name")

            # Accept 总店's order from its popup: the reference server hears it, the others do not.
            notifications.invoke_action(shown["总店"]["id"], "accept")
            wait_until(lambda: [e.get("kind") for e in reference_server.events()
                                if e.get("kind") in ("accepted", "rejected")] == ["accepted"], 10,
                       message="the decision reached the reference server")
            # Accept 美团's order: its decision is published to 美团's reply queue, nowhere else.
            notifications.invoke_action(shown["美团"]["id"], "accept")
            got = wait_until(lambda: decisions.basic_get(f"decisions-{tag}", auto_ack=True)[2], 10,
                             message="the decision reached 美团's reply queue")
            assert (json.loads(got)["kind"], json.loads(got)["order_id"]) == ("accepted", "MT-9001")
            assert [e.get("kind") for e in reference_server.events()
                    if e.get("kind") in ("accepted", "rejected")] == ["accepted"], "总店 heard only its own"
            assert sky.status(paid["id"]) == WAITING, "nothing was sent to the sky-take-out back end"

            # The broker goes away: only 美团 is down, 小程序 and 总店 keep ringing.
            lines = {name: app.count(f"connection {name}:") for name in ("小程序", "总店")}
            relay.close()
            wait_until(lambda: down(app, "美团"), 30, message="美团 said to be down")
            notifications.mark()
            sky.pay(amount="3.00")
            reference_server.publish("700002", order_number="5555", amount="1.00")
            wait_until(lambda: (lambda s: "总店 · New order #5555" in s and any(t.startswith("小程序 · New order")
                                                                                for t in s))(
                [e["summary"] for e in notifications.entries()]), 15, message="the other two still ring")
            assert {name: app.count(f"connection {name}:") for name in lines} == lines, \
                "the others' states did not change"

            # The sky-take-out back end goes away too: only 小程序 changes, 总店 keeps ringing.
            hq_lines = app.count("connection 总店:")
            sky.stop()
            wait_until(lambda: down(app, "小程序"), 30, message="小程序 said to be down")
            assert app.count("connection 总店:") == hq_lines, "总店's state did not change"
            notifications.mark()
            reference_server.publish("700003", order_number="6666", amount="1.00")
            wait_until(lambda: any(e["summary"] == "总店 · New order #6666" for e in notifications.entries()),
                       15, message="the healthy connection still rings")
        finally:
            app.stop()
            publisher.close()
            relay.close()
            decisions.queue_delete(f"decisions-{tag}")
            broker.close()
