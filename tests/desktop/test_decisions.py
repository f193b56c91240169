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

    def window(self, qtbot):
        """The orders window as the app builds it, shown with the newest orders loaded."""
        from notifier.desktop.orders_window import OrdersWindow

        window = OrdersWindow(self.ledger, lambda: self.settings)
        qtbot.addWidget(window)
        window.set_decisions(self.decisions)
        window.show()
        window.reload()
        return window

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
    # Named by its number (what the popup and the voice said), with what happened to it.
    title = f"Order {record['number']} not accepted"
    qtbot.waitUntil(lambda: any(e["summary"] == title for e in log.entries()), timeout=10_000)
    told = log.wait_for(lambda e: e["summary"] == title)
    assert told["body"] == "The customer had cancelled it."
    assert scene.ledger.recent(1)[0].ended_how == Ending.CANCELLED


@pytest.mark.needs_session
def test_without_an_admin_account_the_notification_offers_no_accept(qtbot, shop):
    log = NotificationLog()
    log.mark()
    scene = shop(admin=False)
    assert not scene.decisions.available
    assert scene.decisions.unavailable == "No admin account configured — this PC can only stop the ringing."
    record = scene.paid(qtbot)
    entry = log.wait_for(lambda e: str(record["number"]) in e["summary"] + e["body"])
    assert "accept" not in entry["actions"]


@pytest.mark.needs_session
def test_the_orders_window_rejects_with_a_reason_and_shows_how_orders_ended(qtbot, shop):
    scene = shop()
    mine = scene.paid(qtbot)
    taken = scene.paid(qtbot)
    window = scene.window(qtbot)
    assert window.accept_button.isVisible() and window.reject_button.isVisible()
    row = next(r for r in range(window.model.rowCount())
               if window.model.entry(r).event.order_id == str(mine["id"]))
    window.table.selectRow(row)
    scene.decisions.reason_asker = lambda _event, _parent: "Sold out"
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
    # The ledger's answer reaches the alerts on the Qt thread a moment later (one queued batch).
    qtbot.waitUntil(lambda: scene.alerts.repeating == [], timeout=5000)
    assert not [e for e in log.entries() if "cancelled" in e["summary"] or "rejected" in e["summary"]], \
        "accepted elsewhere is not news"


@pytest.mark.needs_session
def test_an_order_the_customer_cancelled_stops_ringing_and_is_told_once_and_said_aloud(qtbot, shop):
    """The order's popup is replaced by the news (no buttons any more) and the cancellation is
    spoken once: before, it was a popup only, and the old popup kept offering Accept."""
    log = NotificationLog()
    scene = shop()
    spoken: list[str] = []
    scene.announcer.started.connect(spoken.append)
    log.mark()
    record = scene.paid(qtbot)
    popup = log.wait_for(lambda e: str(record["number"]) in e["summary"])
    scene.intake.source.status_poll_s = 1.0
    scene.double.cancel(record["id"], "不想要了")
    qtbot.waitUntil(lambda: scene.alerts.repeating == [], timeout=10_000)
    qtbot.waitUntil(lambda: any("cancelled" in e["summary"] for e in log.entries()), timeout=5000)
    (told,) = [e for e in log.entries() if "cancelled" in e["summary"]]
    assert told["summary"] == f"Order {record['number']} was cancelled by the customer"
    assert told["body"] == "不想要了"
    assert told["replaces_id"] == popup["id"], "the order's own popup, replaced in place"
    assert "accept" not in told["actions"]
    said = f"Order {record['number'][-4:]} was cancelled"
    qtbot.waitUntil(lambda: said in spoken, timeout=10_000)
    assert spoken.count(said) == 1


@pytest.mark.needs_session
def test_an_order_decided_here_has_its_popup_closed(qtbot, shop):
    """Accepted from the orders window: the popup with its Accept / Reject buttons goes away
    (before: it stayed, offering a second decision)."""
    log = NotificationLog()
    log.mark()
    scene = shop()
    record = scene.paid(qtbot)
    popup = log.wait_for(lambda e: str(record["number"]) in e["summary"])
    window = scene.window(qtbot)
    window.table.selectRow(0)
    assert window.accept_selected() == 1
    qtbot.waitUntil(lambda: popup["id"] in log.closed_by_the_app(), timeout=5_000)
    qtbot.waitUntil(lambda: scene.double.status(record["id"]) == ACCEPTED, timeout=10_000)


@pytest.mark.needs_session
def test_a_stale_reject_on_an_order_accepted_elsewhere_sends_nothing_and_says_why(qtbot, shop):
    """PC B's popup (or window) still offered Reject after the order was accepted elsewhere:
    the click is refused here with a sentence naming the order, no dialog asks for a reason, the
    back end gets nothing, and the history keeps "accepted elsewhere"."""
    log = NotificationLog()
    scene = shop()
    record = scene.paid(qtbot)
    event = scene.ledger.recent(1)[0].event
    scene.intake.source.status_poll_s = 1.0
    scene.double.accept(record["id"])
    qtbot.waitUntil(lambda: scene.ledger.find(event.key).ended_how == Ending.ACCEPTED_ELSEWHERE, timeout=10_000)
    asked: list = []
    scene.decisions.reason_asker = lambda event, parent: asked.append(event) or "太忙了"
    log.mark()
    assert not scene.decisions.reject(event)
    assert not scene.decisions.accept(event)
    def told():
        return [e for e in log.entries() if e["summary"].startswith(f"Order {record['number']} not")]

    qtbot.waitUntil(lambda: len(told()) == 2, timeout=5_000)
    assert [(e["summary"], e["body"]) for e in told()] == [
        (f"Order {record['number']} not rejected", "It had already been accepted elsewhere. Nothing was sent."),
        (f"Order {record['number']} not accepted", "It had already been accepted elsewhere. Nothing was sent.")]
    assert asked == []
    assert scene.ledger.find(event.key).ended_how == Ending.ACCEPTED_ELSEWHERE
    assert [name for _t, name, _body in scene.double.state.actions] == []


@pytest.mark.needs_session
def test_a_reject_refused_because_another_pc_was_first_keeps_accepted_elsewhere(qtbot, shop):
    """B rejects before it heard that A accepted: the back end refuses; B says so, by number,
    and its history says "accepted elsewhere", not "rejected here" nor "acknowledged"."""
    log = NotificationLog()
    scene = shop()
    record = scene.paid(qtbot)
    event = scene.ledger.recent(1)[0].event
    scene.double.accept(record["id"])  # A was first; B has not polled yet (poll: 15 s)
    log.mark()
    assert scene.decisions.reject(event, "太忙了")
    title = f"Order {record['number']} not rejected"
    qtbot.waitUntil(lambda: any(e["summary"] == title for e in log.entries()), timeout=10_000)
    assert log.wait_for(lambda e: e["summary"] == title)["body"] == "It had already been accepted elsewhere."
    assert scene.ledger.find(event.key).ended_how == Ending.ACCEPTED_ELSEWHERE
    assert scene.double.status(record["id"]) == ACCEPTED


@pytest.mark.needs_session
def test_without_decisions_the_popup_says_where_orders_are_accepted(qtbot, shop):
    """Sky-take-out without an admin account takes no decisions: stopping the ringing here tells
    the platform nothing, and the popup says so (before: nothing said it)."""
    log = NotificationLog()
    log.mark()
    scene = shop(admin=False)
    record = scene.paid(qtbot)
    entry = log.wait_for(lambda e: str(record["number"]) in e["summary"])
    assert entry["body"].endswith("Accept it in your order system: here you can only stop the ringing.")


def test_the_reject_dialog_names_the_order_and_chooses_no_reason(qtbot):
    """Before: a list with 菜品已售完 preselected, and Enter rejected the order with it."""
    from decimal import Decimal

    from PySide6.QtCore import Qt

    from notifier.core.events import OrderEvent, OrderKind
    from notifier.desktop.reject_dialog import RejectDialog

    event = OrderEvent(OrderKind.NEW_ORDER, "796455129652", "notifier", "shop", order_number="B-20261205-3456",
                       amount=Decimal("56.50"), customer="张三")
    dialog = RejectDialog(event, "en")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert "B-20261205-3456" in dialog.windowTitle()
    assert "#B-20261205-3456 · ¥56.50 · 张三" in dialog.question.text()
    assert dialog.chosen() == "" and not dialog.reject_button.isEnabled()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() != dialog.DialogCode.Accepted, "Enter rejected with no reason"
    qtbot.keyClicks(dialog.reason, "Out of beef")
    assert dialog.reject_button.isEnabled()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.chosen() == "Out of beef"


def test_the_tray_accepts_the_oldest_waiting_order_only_where_the_shop_can(qtbot, shop):
    from notifier.desktop.tray import Tray

    scene = shop()
    tray = Tray()
    scene.decisions.available_changed.connect(tray.set_decisions_available)
    tray.accept_order.connect(scene.decisions.accept)
    scene.alerts.badge_changed.connect(lambda _n: tray.set_oldest_order(scene.decisions.oldest_waiting()))
    scene.decisions._actions = None  # as if the connection were being replaced
    scene.decisions.refresh()
    assert not tray.action_accept.isVisible(), "no order waits"
    first = scene.paid(qtbot)
    second = scene.paid(qtbot)
    # The entries name the order they act on.
    assert tray.action_accept.isVisible() and tray.action_reject.isVisible()
    assert tray.action_accept.text() == f"Accept order {first['number']}"
    assert tray.action_reject.text() == f"Reject order {first['number']}…"
    tray.action_accept.trigger()
    qtbot.waitUntil(lambda: scene.double.status(first["id"]) == ACCEPTED, timeout=10_000)
    assert scene.double.status(second["id"]) == 2, "only the oldest"
    tray.set_decisions_available(False)
    assert not tray.action_accept.isVisible()


def test_the_orders_window_says_when_an_accept_waits_to_be_sent(qtbot, shop):
    scene = shop()
    record = scene.paid(qtbot)
    window = scene.window(qtbot)
    scene.double.stop()
    window.reload()
    window.table.selectRow(0)
    assert window.accept_selected() == 1
    assert window.model.data(window.model.index(0, 5)) == "Accept not sent yet"
    scene.double.start()
    qtbot.waitUntil(lambda: scene.double.status(record["id"]) == ACCEPTED, timeout=15_000)
    qtbot.waitUntil(lambda: window.reload() or window.model.data(window.model.index(0, 5)) == "Accepted here",
                    timeout=5000)


def test_stopping_the_ringing_is_never_called_confirm_and_decisions_come_first(qtbot, qapp, shop):
    """Before: 全部确认 read as "accept all" but only silenced this PC (the platform still had the
    order waiting, the other PC kept ringing), and 确认 was the first entry of an order's
    right-click menu. Where the back end takes decisions, the menu starts with 接单 and 拒单, and
    no button, menu entry or status says 确认."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from notifier.desktop.i18n import install_translators
    from notifier.desktop.orders_window import OUTCOMES
    from notifier.desktop.tray import Tray

    scene = shop()
    record = scene.paid(qtbot)
    install_translators(qapp, "zh_CN")
    try:
        window = scene.window(qtbot)
        window.table.selectRow(0)
        entries: list[str] = []

        def read_menu() -> None:
            menu = QApplication.activePopupWidget()
            entries.extend(a.text() for a in menu.actions() if not a.isSeparator())
            menu.close()

        QTimer.singleShot(200, read_menu)
        window.table.customContextMenuRequested.emit(window.table.visualRect(window.model.index(0, 0)).center())
        qtbot.waitUntil(lambda: bool(entries), timeout=3_000)
        assert entries[:3] == ["接单", "拒单…", "本机停止提醒"]
        tray = Tray()
        tray.set_decisions_available(scene.decisions.available)
        tray.set_oldest_order(scene.decisions.oldest_waiting())
        tray.retranslate()
        words = [*entries, *(a.text() for a in tray.menu.actions()),
                 *(b.text() for b in (window.ack_selected_button, window.ack_all_button, window.accept_button)),
                 *(window.model.outcome_text(which) for which in OUTCOMES),
                 *(b.text() for b in window.filter_buttons.buttons()), window.summary_label.text()]
        assert [w for w in words if "确认" in w] == []
        assert f"接单 {record['number']}" in [a.text() for a in tray.menu.actions()]
    finally:
        install_translators(qapp, "en")
