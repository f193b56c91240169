"""The tray app with two connections at once, end to end: the sky-take-out double ("小程序", with
its admin account) and the reference server ("总店", a connection added to the list, its token
under its own keyring name). Orders on both are notified (notification recorder) and spoken
with their connection's name; accepting the reference server's order goes back to that server
only; stopping the sky-take-out double changes only its own state while the other keeps ringing.
(RabbitMQ as a third connection: not here yet, see the branch's report.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_desktop_e2e import SHOP, App, reference_server  # noqa: E402, F401

from notifier.core.connections import Connection, with_connections  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.settings_file import save  # noqa: E402
from tests.fakes.skytakeout_server import WAITING, SkyTakeOutDouble  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]


def test_two_connections_in_one_tray_ring_by_name_and_decide_through_their_own_back_end(
        tmp_path, reference_server, fresh_keyring):  # noqa: F811
    from notifier.core.secrets import SecretStore

    home = tmp_path / "shop"
    home.mkdir()
    with SkyTakeOutDouble() as sky:
        hq = Connection("c2", "总店", "#2a9d8f").with_values({
            "connection.protocol": "notifier", "connection.url": reference_server.url, "connection.shop": SHOP})
        settings = with_connections(Settings({"general.language": "en", "alerts.repeat_interval": 1,
                                              "alerts.repeat_limit": 50}), (
            Connection("main", "小程序").with_values({
                "connection.protocol": "skytakeout", "connection.url": sky.ws_url,
                "skytakeout.admin_url": sky.admin_url, "skytakeout.admin_user": sky.username}),
            hq))
        config = home / "settings.toml"
        save(settings, config)
        store = SecretStore()
        assert store.set("skytakeout_admin_password", sky.password) is None
        assert store.set("c2_notifier_token", reference_server.token) is None  # 总店's own entry
        app = App(home, "--config", str(config), "--log-level", "INFO")
        try:
            app.wait_output("connection 小程序: connected", timeout=30)
            app.wait_output("connection 总店: connected", timeout=30)
            sky.wait_for_clients()
            notifications = NotificationLog()
            notifications.mark()
            paid = sky.pay(amount="12.00")
            reference_server.publish("700001", order_number="4321", amount="88.00")
            shown = wait_until(lambda: (lambda e: e if len(e) >= 2 else None)(
                [e for e in notifications.entries() if "New order" in e["summary"]]), 15,
                message="both orders notified")
            titles = sorted(e["summary"] for e in shown[:2])
            assert titles[0].startswith("小程序 · New order") and titles[1] == "总店 · New order #4321"
            wait_until(lambda: "总店 new order" in app.output() and "小程序 new order" in app.output(), 15,
                       message="both orders spoken with their connection's name")

            # Accept 总店's order from its popup: the reference server hears it, the double does not.
            hq_popup = next(e for e in shown if "4321" in e["summary"])
            notifications.invoke_action(hq_popup["id"], "accept")
            wait_until(lambda: [e.get("kind") for e in reference_server.events()
                                if e.get("kind") in ("accepted", "rejected")] == ["accepted"], 10,
                       message="the decision reached the reference server")
            assert sky.status(paid["id"]) == WAITING, "nothing was sent to the other back end"

            # The sky-take-out back end goes away: only 小程序 is down, 总店 keeps ringing.
            hq_lines = app.count("connection 总店:")
            sky.stop()
            wait_until(lambda: "connection 小程序: waiting" in app.output()
                       or "connection 小程序: unreachable" in app.output(), 30, message="小程序 said to be down")
            assert app.count("connection 总店:") == hq_lines, "总店's state did not change"
            notifications.mark()
            reference_server.publish("700002", order_number="5555", amount="1.00")
            wait_until(lambda: any(e["summary"] == "总店 · New order #5555" for e in notifications.entries()),
                       15, message="the healthy connection still rings")
        finally:
            app.stop()
