"""The order's life after 接单 on two shop PCs, end to end: two app processes (two NOTIFIER_HOMEs)
on one session bus with the notification recorder. The owner accepts an order from one PC's
notification; the order's popup comes back with its next steps, and 派送 then 完成 are clicked
there. The back end receives each request once (path checked), and the other PC's history shows
the order's new state: on sky-take-out through its status poll (which follows orders under way
at `FOLLOW_FACTOR` times the poll interval), on the reference server through the stream."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_desktop_e2e import SHOP, App, reference_server  # noqa: E402, F401 - the fixture

from notifier.core.order_state import state_of  # noqa: E402
from notifier.core.sources.skytakeout import FOLLOW_FACTOR  # noqa: E402
from tests.fakes.skytakeout_server import CANCELLED, COMPLETED, DELIVERING, SkyTakeOutDouble  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.timeout(180)]
POLL_S = 2  # the status poll's smallest interval
MARGIN_S = 4.0


def state_in(home: Path, order_id: str) -> str | None:
    path = home / "data" / "ledger.sqlite3"
    if not path.exists():
        return None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
        row = db.execute("SELECT ended_how, progress FROM events WHERE order_id=? AND kind='new_order'",
                         (order_id,)).fetchone()
    return state_of(*row) if row else None


def two_apps(tmp_path, *args: str, printers: list | None = None) -> list[App]:
    """The counter's and the kitchen's PC (each printing on its own ESC/POS peer, `printers`)."""
    apps = []
    for n, name in enumerate(("counter", "kitchen")):
        home = tmp_path / name
        home.mkdir()
        printing = ("--set", "printer.print_on=new_order", "--set",
                    f"printer.address={printers[n].address}") if printers else ()
        apps.append(App(home, *args, *printing, "--set", "general.language=en", "--set",
                        "alerts.repeat_interval=1", "--set", "alerts.repeat_limit=50", "--log-level", "INFO"))
    for app in apps:
        app.wait_output("connection: connected", timeout=20)
    return apps


def accept_deliver_complete(notifications: NotificationLog, number: str, step_wait: float) -> list[dict]:
    """Accept the order from one PC's popup, then 派送 and 完成 from the popup it comes back as;
    returns the step popups seen (each after its click)."""
    def popups(summary: str) -> list[dict]:
        return [e for e in notifications.entries() if e["summary"] == summary]

    ringing = wait_until(lambda: [e for e in notifications.entries() if number in e["summary"]], 15,
                         message="the order notified")
    notifications.invoke_action(ringing[0]["id"], "accept")
    accepted = wait_until(lambda: popups(f"Order {number} accepted"), 15, message="the accepted popup")
    assert len(accepted) == 1, "only the PC that accepted offers the next steps"
    assert accepted[0]["actions"][2:] == ["deliver", "Send out", "complete", "Complete",
                                          "cancel", "Cancel order…"]
    notifications.invoke_action(accepted[0]["id"], "deliver")
    out = wait_until(lambda: popups(f"Order {number} out for delivery"), step_wait, message="out for delivery")
    assert out[0]["actions"][2:] == ["complete", "Complete", "cancel", "Cancel order…"]
    return [accepted[0], out[0]]


@pytest.fixture
def printers():
    """Each PC's kitchen printer: an ESC/POS peer on 127.0.0.1 that keeps what it is sent."""
    from tests.fakes.escpos_server import EscposPrinterServer

    peers = [EscposPrinterServer().start() for _ in range(2)]
    yield peers
    for peer in peers:
        peer.stop()


@pytest.fixture
def sky_pcs(tmp_path, fresh_keyring, printers):
    """The sky-take-out double and two PCs on it with the shop's admin account, each printing
    every order on its own printer (`printers`)."""
    from notifier.core.secrets import SecretStore

    with SkyTakeOutDouble() as double:
        assert SecretStore().set("skytakeout_admin_password", double.password) is None
        apps = two_apps(tmp_path, "--protocol", "skytakeout", "--url", double.ws_url,
                        "--admin-url", double.admin_url, "--admin-user", double.username,
                        "--set", f"skytakeout.status_poll_interval={POLL_S}", printers=printers)
        try:
            double.wait_for_clients(2, timeout=10)
            yield double
        finally:
            for app in apps:
                app.stop()


def in_cancel_dialog(number: str, *keys: str) -> str:
    """Focus the cancel dialog of the order on the display (found by its title) and type there
    (`xdotool` keys through XTEST, as a keyboard would); returns what xdotool said."""
    done = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^Cancel order {number}$",
                           "windowfocus", "--sync", *keys], capture_output=True, text=True, timeout=10)
    return done.stderr


def test_deliver_and_complete_on_one_pc_reach_sky_take_out_and_the_other_pc(tmp_path, sky_pcs):
    double = sky_pcs
    notifications = NotificationLog()
    notifications.mark()
    paid = double.pay(amount="42.00")
    order_id, number = str(paid["id"]), paid["number"]
    steps = accept_deliver_complete(notifications, number, 15)
    wait_until(lambda: double.status(paid["id"]) == DELIVERING, 10, message="delivering at the back end")
    homes = [tmp_path / "counter", tmp_path / "kitchen"]
    follow = FOLLOW_FACTOR * POLL_S + MARGIN_S
    wait_until(lambda: all(state_in(h, order_id) == "delivering" for h in homes), follow,
               message="both PCs have it out for delivery")
    notifications.invoke_action(steps[1]["id"], "complete")
    wait_until(lambda: double.status(paid["id"]) == COMPLETED, 10, message="completed at the back end")
    wait_until(lambda: all(state_in(h, order_id) == "completed" for h in homes), follow,
               message="both PCs have it completed")
    sent = [(m, p) for m, p, _b in double.state.requests if "/delivery/" in p or "/complete/" in p]
    assert sent == [("PUT", f"/admin/order/delivery/{paid['id']}"),
                    ("PUT", f"/admin/order/complete/{paid['id']}")], "one request per click"


def test_cancel_with_a_reason_from_the_popup_and_a_refused_complete(tmp_path, sky_pcs, printers):
    """... and the shop's own 取消 voids the kitchen ticket on both PCs' printers: on this PC once
    sky-take-out confirmed it, on the other when its status poll hears of it."""
    double = sky_pcs
    notifications = NotificationLog()
    notifications.mark()
    paid = double.pay(amount="18.00")
    order_id, number = str(paid["id"]), paid["number"]
    ringing = wait_until(lambda: [e for e in notifications.entries() if number in e["summary"]], 15)
    notifications.invoke_action(ringing[0]["id"], "accept")
    accepted = wait_until(lambda: [e for e in notifications.entries()
                                   if e["summary"] == f"Order {number} accepted"], 15)
    # 完成 before 派送: sky-take-out refuses, and the PC says so, naming the order.
    notifications.invoke_action(accepted[0]["id"], "complete")
    told = wait_until(lambda: [e for e in notifications.entries()
                               if e["summary"] == f"Order {number} not completed"], 15)
    assert told[0]["body"] == f"Order {number} is not out for delivery yet: send it out first."
    homes = [tmp_path / "counter", tmp_path / "kitchen"]
    wait_until(lambda: state_in(homes[0], order_id) == state_in(homes[1], order_id) == "accepted", 10)
    # 取消 with a reason typed into the dialog the popup's button opens.
    again = wait_until(lambda: [e for e in notifications.entries()
                                if e["summary"] == f"Order {number} accepted"][1:], 15,
                       message="the popup offered its steps again")
    notifications.invoke_action(again[-1]["id"], "cancel")
    assert in_cancel_dialog(number, "type", "--delay", "20", "heavy rain") == ""
    in_cancel_dialog(number, "key", "Return")
    wait_until(lambda: double.status(paid["id"]) == CANCELLED, 10, message="cancelled at the back end")
    assert ("PUT", "/admin/order/cancel", {"id": paid["id"], "cancelReason": "heavy rain"}) in double.state.requests
    wait_until(lambda: all(state_in(h, order_id) == "cancelled" for h in homes),
               FOLLOW_FACTOR * POLL_S + MARGIN_S, message="both PCs have it cancelled")
    for printer in printers:  # each PC printed the order's ticket, then its void slip
        ticket, void = printer.wait_for_tickets(2, timeout=15)[:2]
        assert number[-4:] in ticket.text and "CANCELLED" not in ticket.text
        assert "CANCELLED" in void.text and number[-4:] in void.text and "heavy rain" in void.text


def test_deliver_and_complete_on_one_pc_reach_the_reference_server_and_the_other_pc(
        tmp_path, reference_server, fresh_keyring):  # noqa: F811
    from notifier.core.secrets import SecretStore

    assert SecretStore().set("notifier_token", reference_server.token) is None
    apps = two_apps(tmp_path, "--protocol", "notifier", "--url", reference_server.url, "--shop", SHOP)
    try:
        notifications = NotificationLog()
        notifications.mark()
        reference_server.publish("800001", order_number="8801", amount="30.00")
        steps = accept_deliver_complete(notifications, "8801", 15)
        homes = [tmp_path / "counter", tmp_path / "kitchen"]
        wait_until(lambda: all(state_in(h, "800001") == "delivering" for h in homes), 10,
                   message="both PCs have it out for delivery")
        notifications.invoke_action(steps[1]["id"], "complete")
        wait_until(lambda: all(state_in(h, "800001") == "completed" for h in homes), 10,
                   message="both PCs have it completed")
    finally:
        for app in apps:
            app.stop()
