"""营业 / 打烊 with several connections in one tray, end to end: a shop that takes orders on its
mini-program (小程序, the sky-take-out double on 127.0.0.1) and its chain's order server (总店, the
reference server) sees each one's state by name on the tray's menu and in its tooltip; "打烊" closes
both (asking once while orders wait), "营业" opens both, one entry per connection switches one
alone; an unreachable back end is told for its own connection while the other one closes; and
auto-accept asks the order's own connection (its switch and its shop's state).

The PC is the app's own parts in this process, wired as app.py wires them (test_shop_counter_e2e's
Counter), so the test can click its menu."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import NotificationLog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_desktop_e2e import SHOP, reference_server  # noqa: E402, F401 - a fixture
from test_shop_counter_e2e import POLL_S, confirms, counter, double, shop_requests  # noqa: E402, F401

from notifier.core.connections import Connection, with_connections  # noqa: E402
from tests.fakes.skytakeout_server import ACCEPTED, WAITING  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


def two_connections(double, reference_server, *, mini: dict | None = None, hq: dict | None = None) -> tuple:  # noqa: F811
    return (
        Connection("main", "小程序").with_values({
            "connection.protocol": "skytakeout", "connection.url": double.ws_url,
            "skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": double.username,
            "skytakeout.status_poll_interval": POLL_S, **(mini or {})}),
        Connection("c2", "总店", "#2a9d8f").with_values({
            "connection.protocol": "notifier", "connection.url": reference_server.url,
            "connection.shop": SHOP, **(hq or {})}))


def secrets_of(double, reference_server) -> dict:  # noqa: F811
    # 小程序 is the first (upgraded) connection: its entry keeps its name; 总店's is led by its id.
    return {"skytakeout_admin_password": double.password, "c2_notifier_token": reference_server.token}


def shop_events(reference_server) -> list[str]:  # noqa: F811
    return [e["kind"] for e in reference_server.events() if e.get("kind") in ("shop_opened", "shop_closed")]


def test_each_connections_shop_state_is_shown_by_name_and_the_tray_closes_and_opens_them_all(
        qtbot, counter, double, reference_server):  # noqa: F811
    scene = counter({}, secrets_of(double, reference_server), two_connections(double, reference_server))
    tray = scene.tray
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": True, "总店": True}, timeout=15_000)
    assert tray.action_shop.isVisible() and tray.action_shop.isChecked()
    assert tray.action_shop.text() == "Open for orders on all 2"
    tip = tray.icon.toolTip().splitlines()
    assert "小程序: Shop open (taking orders)" in tip and "总店: Shop open (taking orders)" in tip
    assert [e.text() for e in tray.shop_entries()] == ["小程序: Shop open (taking orders)",
                                                       "总店: Shop open (taking orders)"]

    # An order waits: "打烊" asks once, for both, and "no" sends nothing anywhere.
    double.pay(amount="56.00")
    qtbot.waitUntil(lambda: scene.alerts.badge == 1, timeout=10_000)
    asked: list[int] = []
    scene.counter.closing_asker = lambda waiting: asked.append(waiting) or False
    tray.action_shop.trigger()
    assert asked == [1] and shop_requests(double) == [] and shop_events(reference_server) == []

    scene.counter.closing_asker = lambda waiting: asked.append(waiting) or True
    tray.action_shop.trigger()
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": False, "总店": False}, timeout=10_000)
    assert asked == [1, 1], "asked once for both connections"
    assert shop_requests(double) == [("PUT", "/admin/shop/0", None)] and double.shop_status == 0
    assert shop_events(reference_server) == ["shop_closed"]
    assert not tray.action_shop.isChecked() and tray.action_shop.text() == "Closed on all 2 — click to open all"
    tip = tray.icon.toolTip().splitlines()
    assert "小程序: Shop closed" in tip and "总店: Shop closed" in tip

    # 总店 alone opens again from its own entry; the mini-program stays closed and hears nothing.
    hq_entry = tray.shop_entries()[1]
    assert hq_entry.text() == "总店: Shop closed" and not hq_entry.isChecked()
    hq_entry.trigger()
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": False, "总店": True}, timeout=10_000)
    assert shop_events(reference_server) == ["shop_closed", "shop_opened"]
    assert shop_requests(double) == [("PUT", "/admin/shop/0", None)]
    assert tray.shop_open is None and tray.action_shop.text() == "Open on 1 of 2 — click to open all"

    # "营业" opens every connection: only the closed one is asked.
    tray.action_shop.trigger()
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": True, "总店": True}, timeout=10_000)
    assert shop_requests(double)[-1] == ("PUT", "/admin/shop/1", None) and double.shop_status == 1
    assert shop_events(reference_server) == ["shop_closed", "shop_opened"]
    assert tray.action_shop.isChecked()

    # One connection alone asks with its own waiting orders: 小程序's order does not wait on 总店
    # (it asked "1 waiting" here before), and closing 小程序 alone names its one.
    asked.clear()
    tray.shop_entries()[1].trigger()
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": True, "总店": False}, timeout=10_000)
    assert asked == [], "总店 has no order waiting: nothing to ask"
    scene.counter.closing_asker = lambda waiting: asked.append(waiting) or False
    tray.shop_entries()[0].trigger()
    assert asked == [1] and tray.shop_states() == {"小程序": True, "总店": False}


def test_an_unreachable_back_end_is_told_for_its_connection_and_the_other_one_closes(
        qtbot, counter, double, reference_server):  # noqa: F811
    log = NotificationLog()
    scene = counter({}, secrets_of(double, reference_server), two_connections(double, reference_server))
    tray = scene.tray
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": True, "总店": True}, timeout=15_000)
    log.mark()
    double.stop()
    tray.action_shop.trigger()  # nothing waits: no question
    qtbot.waitUntil(lambda: tray.shop_states()["总店"] is False, timeout=10_000)
    assert shop_events(reference_server) == ["shop_closed"]
    told = log.wait_for(lambda e: e["summary"].startswith("The shop was not"), timeout=30)
    assert told["summary"] == "The shop was not closed on 小程序"
    assert "could not be reached" in told["body"] and "Traceback" not in told["body"]
    assert tray.shop_states() == {"小程序": True, "总店": False}, "小程序 keeps the state its back end last said"
    assert not [e for e in log.entries() if "总店" in e["summary"]], "nothing said about the connection that closed"


def test_auto_accept_asks_the_orders_own_connection(qtbot, counter, double, reference_server):  # noqa: F811
    double.shop_status = 0  # the mini-program is closed; the chain's server is open
    scene = counter({}, secrets_of(double, reference_server), two_connections(
        double, reference_server, mini={"connection.auto_accept": True}, hq={"connection.auto_accept": True}))
    tray = scene.tray
    qtbot.waitUntil(lambda: tray.shop_states() == {"小程序": False, "总店": True}, timeout=15_000)
    assert tray.action_auto_accept.text() == "小程序: Auto-accept is off while the shop is closed."

    # 总店 is open: its order accepts itself at its own back end.
    reference_server.publish("800001", order_number="4321", amount="88.00")
    qtbot.waitUntil(lambda: "accepted" in [e.get("kind") for e in reference_server.events()], timeout=15_000)
    qtbot.waitUntil(lambda: any(line.startswith("Auto-accepted order 4321") for line in scene.spoken), timeout=10_000)
    # 小程序 is closed: its order rings, nothing is confirmed there.
    closed = double.pay(amount="20.00")
    qtbot.waitUntil(lambda: len(scene.alerts.repeating) == 1, timeout=10_000)
    assert confirms(double) == [] and double.status(closed["id"]) == WAITING

    # Auto-accept only for one platform: 小程序's own switch, 总店's off.
    scene.counter.apply_settings(with_connections(scene.settings, two_connections(
        double, reference_server, mini={"connection.auto_accept": True})))
    double.shop_status = 1
    qtbot.waitUntil(lambda: tray.shop_states()["小程序"] is True, timeout=(POLL_S + 5) * 1000)
    opened = double.pay(amount="30.00")
    qtbot.waitUntil(lambda: double.status(opened["id"]) == ACCEPTED, timeout=10_000)
    reference_server.publish("800002", order_number="5555", amount="9.00")
    qtbot.waitUntil(lambda: len(scene.alerts.repeating) == 2, timeout=10_000)
    assert [e.get("kind") for e in reference_server.events()].count("accepted") == 1, "总店's order rings"


def test_opening_hours_close_every_connection(qtbot, counter, double, reference_server):  # noqa: F811
    from datetime import datetime, timedelta

    now = datetime.now()
    # Hours that have the shop closed now (they begin in two hours): the app closes it on start.
    hours = f"{(now + timedelta(hours=2)):%H:%M}-{(now + timedelta(hours=3)):%H:%M}"
    scene = counter({"shop.hours": hours}, secrets_of(double, reference_server),
                    two_connections(double, reference_server))
    qtbot.waitUntil(lambda: scene.tray.shop_states() == {"小程序": False, "总店": False}, timeout=15_000)
    assert double.shop_status == 0 and ("PUT", "/admin/shop/0", None) in shop_requests(double)
    assert "shop_closed" in shop_events(reference_server)
