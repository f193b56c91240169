"""Accept and reject where the alert is, in the desktop app's parts: the notification's buttons
clicked on the real session bus (the notification recorder), the orders window, against the
sky-take-out double's admin API on 127.0.0.1 (speech on Qt's mock engine: not about audio)."""

from __future__ import annotations

import pytest
from helpers import NotificationLog

from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ending, Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from tests.fakes.skytakeout_server import ACCEPTED, CANCELLED, SkyTakeOutDouble


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


class Shop:
    """The app's wiring of intake → bridge → alert centre, with OrderDecisions on top."""

    def __init__(self, qtbot, tmp_path, double: SkyTakeOutDouble, *, admin: bool = True):
        from notifier.desktop.alerts import AlertCentre
        from notifier.desktop.bridge import CoreBridge
        from notifier.desktop.decisions import OrderDecisions
        from notifier.desktop.notify import Notifier
        from notifier.desktop.voice import Announcer

        values = {"general.language": "en", "alerts.chime": False, "alerts.repeat_interval": 60,
                  "connection.protocol": "skytakeout", "connection.url": double.ws_url}
        if admin:
            values.update({"skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": "admin"})
        self.settings = Settings(values)
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer)
        self.bridge = CoreBridge()
        self.bridge.orders.connect(self.alerts.on_orders)
        self.intake = OrderIntake(self.ledger, MemorySecrets({"skytakeout_admin_password": "123456"}))
        self.intake.on_order(self.bridge.push_order)
        self.intake.start(self.settings)
        self.decisions = OrderDecisions(self.ledger, self.intake, self.notifier, self.alerts)
        self.decisions.refresh()
        self.double = double
        double.wait_for_clients()

    def paid(self, qtbot):
        record = self.double.pay()
        key = f"{record['id']}"
        qtbot.waitUntil(lambda: any(e.event.order_id == key for e in self.ledger.recent(10)), timeout=5000)
        qtbot.waitUntil(lambda: len(self.alerts.repeating) >= 1, timeout=5000)
        return record

    def close(self):
        self.decisions.stop()
        self.alerts.stop()  # kept alive (below): its repeats must not reach the closed ledger
        self.announcer.shutdown()
        self.intake.stop()
        self.notifier.close()
        self.ledger.close()


@pytest.fixture
def double():
    with SkyTakeOutDouble() as server:
        yield server


# Qt objects of finished tests are kept: one deleted while a queued signal is on its way to it
# would crash a later test.
_KEPT: list = []


@pytest.fixture
def shop(qtbot, tmp_path, double):
    made = _KEPT

    def make(**kw) -> Shop:
        made.append(Shop(qtbot, tmp_path, double, **kw))
        return made[-1]

    first = len(made)
    yield make
    for s in made[first:]:
        s.close()


@pytest.mark.needs_session
def test_accept_from_the_notification_button_on_the_session_bus(qtbot, shop):
    log = NotificationLog()
    log.mark()
    scene = shop()
    record = scene.paid(qtbot)
    entry = log.wait_for(lambda e: str(record["number"]) in e["summary"] + e["body"])
    assert entry["actions"][2:] == ["accept", "Accept", "reject", "Reject…"]
    log.invoke_action(entry["id"], "accept")
    qtbot.waitUntil(lambda: scene.double.status(record["id"]) == ACCEPTED, timeout=10_000)
    assert scene.ledger.recent(1)[0].ended_how == Ending.ACCEPTED_HERE
    qtbot.waitUntil(lambda: scene.alerts.repeating == [], timeout=2000)
    assert scene.alerts.badge == 0


@pytest.mark.needs_session
def test_a_refused_accept_is_told_in_a_sentence(qtbot, shop):
    log = NotificationLog()
    scene = shop()
    record = scene.paid(qtbot)
    scene.double.cancel(record["id"])
    log.mark()
    assert scene.decisions.accept(scene.ledger.recent(1)[0].event)
    qtbot.waitUntil(lambda: any(e["summary"] == "Order not accepted" for e in log.entries()), timeout=10_000)
    told = log.wait_for(lambda e: e["summary"] == "Order not accepted")
    assert told["body"] == f"Order {record['id']} was cancelled; it can no longer be accepted or rejected."
    assert scene.ledger.recent(1)[0].ended_how == Ending.CANCELLED


@pytest.mark.needs_session
def test_without_an_admin_account_the_notification_offers_no_accept(qtbot, shop):
    log = NotificationLog()
    log.mark()
    scene = shop(admin=False)
    assert not scene.decisions.available
    assert scene.decisions.unavailable == "No admin account configured — acknowledge only."
    record = scene.paid(qtbot)
    entry = log.wait_for(lambda e: str(record["number"]) in e["summary"] + e["body"])
    assert "accept" not in entry["actions"]


@pytest.mark.needs_session
def test_the_orders_window_rejects_with_a_reason_and_shows_how_orders_ended(qtbot, shop):
    from notifier.desktop.orders_window import OrdersWindow

    scene = shop()
    mine = scene.paid(qtbot)
    taken = scene.paid(qtbot)
    window = OrdersWindow(scene.ledger, lambda: scene.settings)
    qtbot.addWidget(window)
    window.set_decisions(scene.decisions)
    window.show()
    window.reload()
    assert window.accept_button.isVisible() and window.reject_button.isVisible()
    row = next(r for r in range(window.model.rowCount())
               if window.model.entry(r).event.order_id == str(mine["id"]))
    window.table.selectRow(row)
    scene.decisions.reason_asker = lambda _parent: "Sold out"
    assert window.reject_selected() == 1
    qtbot.waitUntil(lambda: scene.double.status(mine["id"]) == CANCELLED, timeout=10_000)
    assert scene.double.orders[mine["id"]]["rejectionReason"] == "Sold out"
    # The other one is accepted on the admin web page; the status poll ends it here.
    log = NotificationLog()
    log.mark()
    scene.intake.source.status_poll_s = 1.0
    scene.double.accept(taken["id"])
    qtbot.waitUntil(lambda: scene.ledger.unacknowledged_orders() == 0, timeout=10_000)
    qtbot.waitUntil(lambda: not scene.decisions.unsent(), timeout=5000)  # the answer was read
    window.reload()
    statuses = {window.model.entry(r).event.order_id: window.model.data(window.model.index(r, 5))
                for r in range(window.model.rowCount())}
    assert statuses == {str(mine["id"]): "Rejected here", str(taken["id"]): "Accepted elsewhere"}
    window.ending_filter.setCurrentIndex(window.ending_filter.findData(Ending.ACCEPTED_ELSEWHERE))
    assert [window.model.entry(r).event.order_id for r in range(window.model.rowCount())] == [str(taken["id"])]
    assert scene.alerts.repeating == []
    assert not [e for e in log.entries() if "cancelled" in e["summary"] or "rejected" in e["summary"]], \
        "accepted elsewhere is not news"


@pytest.mark.needs_session
def test_an_order_the_customer_cancelled_stops_ringing_and_is_told_once(qtbot, shop):
    log = NotificationLog()
    scene = shop()
    record = scene.paid(qtbot)
    log.mark()
    scene.intake.source.status_poll_s = 1.0
    scene.double.cancel(record["id"], "不想要了")
    qtbot.waitUntil(lambda: scene.alerts.repeating == [], timeout=10_000)
    qtbot.waitUntil(lambda: any("cancelled" in e["summary"] for e in log.entries()), timeout=5000)
    (told,) = [e for e in log.entries() if "cancelled" in e["summary"]]
    assert told["summary"] == f"Order {record['number']} was cancelled by the customer"
    assert told["body"] == "不想要了"


def test_the_tray_accepts_the_oldest_waiting_order_only_where_the_shop_can(qtbot, shop):
    from notifier.desktop.tray import Tray

    scene = shop()
    tray = Tray()
    scene.decisions.available_changed.connect(tray.set_decisions_available)
    tray.accept_oldest.connect(scene.decisions.accept_oldest)
    scene.decisions._actions = None  # as if the connection were being replaced
    scene.decisions.refresh()
    assert tray.action_accept.isVisible() and tray.action_reject.isVisible()
    first = scene.paid(qtbot)
    second = scene.paid(qtbot)
    tray.action_accept.trigger()
    qtbot.waitUntil(lambda: scene.double.status(first["id"]) == ACCEPTED, timeout=10_000)
    assert scene.double.status(second["id"]) == 2, "only the oldest"
    tray.set_decisions_available(False)
    assert not tray.action_accept.isVisible()


def test_the_orders_window_says_when_an_accept_waits_to_be_sent(qtbot, shop):
    from notifier.desktop.orders_window import OrdersWindow

    scene = shop()
    record = scene.paid(qtbot)
    window = OrdersWindow(scene.ledger, lambda: scene.settings)
    qtbot.addWidget(window)
    window.set_decisions(scene.decisions)
    window.show()
    scene.double.stop()
    window.reload()
    window.table.selectRow(0)
    assert window.accept_selected() == 1
    assert window.model.data(window.model.index(0, 5)) == "Accepted here · not sent yet"
    scene.double.start()
    qtbot.waitUntil(lambda: scene.double.status(record["id"]) == ACCEPTED, timeout=15_000)
    qtbot.waitUntil(lambda: window.reload() or window.model.data(window.model.index(0, 5)) == "Accepted here",
                    timeout=5000)
