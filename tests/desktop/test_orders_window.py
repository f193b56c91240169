"""The orders window against a real ledger file: what the shop owner sees and can do there."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import shiboken6
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_links import order_url
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.orders_window import OrdersWindow, day_start

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def english(qapp):
    # English has a catalog too: the plural forms ("1 order" / "2 orders").
    install_translators(qapp, "en")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock):
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture
def settings_box():
    return {"settings": Settings({"alerts.order_url": "http://admin.example/#/order?orderId={order_id}"})}


@pytest.fixture
def window(qtbot, ledger, settings_box):
    window = OrdersWindow(ledger, lambda: settings_box["settings"])
    window.show()
    qtbot.waitExposed(window)
    yield window
    # Gone before its ledger closes (a hidden window would otherwise outlive the test).
    shiboken6.delete(window)


def order(order_id: str, **kw) -> OrderEvent:
    kw.setdefault("order_number", f"N{order_id}")
    return OrderEvent(kind=kw.pop("kind", OrderKind.NEW_ORDER), order_id=order_id, source="json",
                      server="shop.example", **kw)


def cell(window: OrdersWindow, row: int, column: int) -> str:
    return window.model.index(row, column).data(Qt.ItemDataRole.DisplayRole)


def rows(window: OrdersWindow) -> list[str]:
    return [cell(window, row, 2) for row in range(window.model.rowCount())]


def test_shows_new_orders_newest_first_with_amount_customer_and_status(window, ledger):
    ledger.record(order("1", amount=Decimal("56.5"), customer="Zhang San"))
    ledger.record(order("2", kind=OrderKind.REMINDER, order_number="N1"))
    window.refresh()
    window.reload()
    assert rows(window) == ["N1", "N1"]
    assert [cell(window, 1, c) for c in range(1, 6)] == ["New order", "N1", "¥56.50", "Zhang San", "Waiting"]
    assert cell(window, 0, 1) == "Reminder"
    assert "2 orders shown" in window.summary_label.text()
    assert "2 still ringing" in window.summary_label.text()


def test_empty_ledger_says_so(window):
    assert window.model.rowCount() == 0
    assert window.empty_label.isVisible()
    assert "No orders yet" in window.empty_label.text()


def test_acknowledge_selected_writes_the_ledger_and_tells_the_alert_centre(qtbot, window, ledger):
    ledger.record(order("1"))
    ledger.record(order("2"))
    window.reload()
    window.table.selectRow(rows(window).index("N1"))
    with qtbot.waitSignal(window.acknowledged, timeout=1000):
        qtbot.mouseClick(window.ack_selected_button, Qt.MouseButton.LeftButton)
    assert ledger.unacknowledged_orders() == 1
    assert cell(window, rows(window).index("N1"), 5) == "Silenced here"
    assert cell(window, rows(window).index("N2"), 5) == "Waiting"
    # The same selection is kept after the reload, and there is nothing left to acknowledge in it.
    assert [e.event.order_id for e in window.selected_entries()] == ["1"]
    assert not window.ack_selected_button.isEnabled()


def test_acknowledge_all(qtbot, window, ledger):
    for n in range(5):
        ledger.record(order(str(n)))
    window.reload()
    assert window.ack_all_button.isEnabled()
    with qtbot.waitSignal(window.acknowledged, timeout=1000):
        qtbot.mouseClick(window.ack_all_button, Qt.MouseButton.LeftButton)
    assert ledger.unacknowledged_orders() == 0
    assert not window.ack_all_button.isEnabled()
    assert {cell(window, row, 5) for row in range(5)} == {"Silenced here"}


def test_filters_today_unacknowledged_and_all(qtbot, window, ledger, clock):
    clock.now = day_start() - 3600  # yesterday, 23:00
    ledger.record(order("old"))
    clock.now = time.time()
    ledger.record(order("today-acked"))
    ledger.record(order("today-waiting"))
    ledger.acknowledge([e.id for e in ledger.recent() if e.event.order_id == "today-acked"])
    window.reload()
    assert window.current_filter == "today"
    assert sorted(rows(window)) == ["Ntoday-acked", "Ntoday-waiting"]
    qtbot.mouseClick(window.filter_buttons.buttons()[1], Qt.MouseButton.LeftButton)
    assert sorted(rows(window)) == ["Nold", "Ntoday-waiting"]
    qtbot.mouseClick(window.filter_buttons.buttons()[2], Qt.MouseButton.LeftButton)
    assert sorted(rows(window)) == ["Nold", "Ntoday-acked", "Ntoday-waiting"]
    # Yesterday's order shows its date, today's only the time.
    old_row = rows(window).index("Nold")
    assert "-" in cell(window, old_row, 0)
    assert "-" not in cell(window, rows(window).index("Ntoday-acked"), 0)


def test_search_by_customer_and_number(qtbot, window, ledger):
    ledger.record(order("1", customer="Zhang San"))
    ledger.record(order("2", customer="李四"))
    ledger.record(order("3", order_number="1757000000123"))
    window.reload()
    window.search.insert("李")  # as an input method commits it (QTest types only Latin keys)
    qtbot.waitUntil(lambda: rows(window) == ["N2"], timeout=2000)
    window.search.clear()
    qtbot.keyClicks(window.search, "0123")
    qtbot.waitUntil(lambda: rows(window) == ["1757000000123"], timeout=2000)
    window.search.setText("nothing like this")
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=2000)
    assert "No orders match" in window.empty_label.text()


class UrlCatcher(QObject):
    """Receives what QDesktopServices would hand to the browser (Qt's own URL-handler hook)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(bytes(url.toEncoded()).decode())


def test_open_in_browser_fills_the_template(qtbot, window, ledger, settings_box):
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("http", catcher, "open")
    try:
        ledger.record(order("98 7", order_number="1234"))
        window.reload()
        window.table.selectRow(0)
        assert window.open_button.isEnabled()
        qtbot.mouseClick(window.open_button, Qt.MouseButton.LeftButton)
        assert catcher.urls == ["http://admin.example/#/order?orderId=98%207"]
        # Without a template the button is off and says where to set one.
        settings_box["settings"] = Settings()
        window.reload()
        window.table.selectRow(0)
        assert not window.open_button.isEnabled()
        assert "Settings" in window.open_button.toolTip()
    finally:
        QDesktopServices.unsetUrlHandler("http")


def test_order_url_template():
    event = order("42", order_number="A&B")
    assert order_url("http://x/{order_id}?n={order_number}", event) == "http://x/42?n=A%26B"
    assert order_url("  ", event) == ""
    assert order_url("http://x/{typo}", event) == "http://x/{typo}"


def test_a_notification_click_and_open_in_browser_open_the_same_address(qtbot, window, ledger, settings_box,
                                                                          tmp_path, monkeypatch):
    """One order, two ways to open it: the alert centre (a click on its notification) and the
    orders window's button must hand the browser the very same, properly quoted address."""
    from notifier.desktop.alerts import AlertCentre
    from notifier.desktop.notify import Notifier
    from notifier.desktop.voice import Announcer

    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")
    template = "http://admin.example/#/order?orderId={order_id}&n={order_number}"
    settings = Settings({"alerts.order_url": template, "general.language": "en", "alerts.chime": False,
                         "alerts.voice_new_order": False, "alerts.notify_new_order": False})
    settings_box["settings"] = settings
    event = order("9 8&7 中文", order_number="A 1&2 号")
    ledger.record(event)
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("http", catcher, "open")
    notifier, announcer = Notifier(), Announcer(settings)
    try:
        alerts = AlertCentre(settings, ledger, notifier, announcer)
        alerts.activated(event.key)  # what a click on the order's notification does
        window.reload()
        window.table.selectRow(0)
        qtbot.mouseClick(window.open_button, Qt.MouseButton.LeftButton)
        expected = "http://admin.example/#/order?orderId=9%208%267%20%E4%B8%AD%E6%96%87&n=A%201%262%20%E5%8F%B7"
        assert catcher.urls == [expected, expected]
    finally:
        QDesktopServices.unsetUrlHandler("http")
        notifier.close()


def test_focus_order_selects_it_even_when_the_filter_hides_it(qtbot, window, ledger, clock):
    clock.now = day_start() - 7200
    ledger.record(order("yesterday"))
    clock.now = time.time()
    for n in range(50):
        ledger.record(order(str(n)))
    window.hide()
    window.focus_order(order("yesterday"))
    qtbot.waitExposed(window)
    assert window.current_filter == "all"
    assert [e.event.order_id for e in window.selected_entries()] == ["yesterday"]
    window.focus_order(order("7"))
    assert [e.event.order_id for e in window.selected_entries()] == ["7"]


def test_focus_order_selects_the_order_of_its_own_connection(qtbot, window, ledger):
    """Two branches on one server both have an order 1001: a click on the first's popup shows
    the first's row, not the other's (newer, so listed above it)."""
    east, west = (order("1001", connection=name, connection_id=cid)
                  for cid, name in (("east", "东门店"), ("west", "西门店")))
    ledger.record(east)
    ledger.record(west)
    window.focus_order(east)
    qtbot.waitExposed(window)
    assert [e.event.connection for e in window.selected_entries()] == ["东门店"]


def test_closing_hides_the_window(qtbot, window):
    window.close()
    assert not window.isVisible()
    assert window.isHidden()
    window.focus_order(None)
    qtbot.waitExposed(window)


def test_markup_and_huge_text_are_shown_as_one_plain_line(window, ledger):
    ledger.record(order("1", customer="<b>bold</b>\n<img src=x>", text="x" * 5_000_000))
    window.reload()
    assert cell(window, 0, 4) == "<b>bold</b> <img src=x>"
    tooltip = window.model.index(0, 4).data(Qt.ItemDataRole.ToolTipRole)
    assert len(tooltip) < 400


def test_chart_counts_todays_new_orders_per_hour(window, ledger, clock):
    start = day_start()
    for hour, count in ((9, 3), (12, 1)):
        clock.now = start + hour * 3600 + 60
        for n in range(count):
            ledger.record(order(f"{hour}-{n}"))
    clock.now = start + 12 * 3600 + 120
    ledger.record(order("12-0", kind=OrderKind.REMINDER))  # reminders are not new orders
    window.reload()
    counts = window.chart.counts()
    assert counts[9] == 3 and counts[12] == 1 and sum(counts) == 4
    assert "4" in window.chart.accessibleDescription()


@pytest.mark.measures_time
def test_thousands_of_orders_stay_quick_and_bursts_are_coalesced(qtbot, window, ledger):
    ledger.record_many(order(str(n), amount=Decimal(n)) for n in range(5000))
    started = time.perf_counter()
    window.reload()
    reload_ms = (time.perf_counter() - started) * 1000
    assert window.model.rowCount() == 5000
    assert reload_ms < 1500, f"reloading 5,000 orders took {reload_ms:.0f} ms"
    # A burst of refreshes (one per arriving order) costs at most one more reload.
    reloads = []
    window.model.modelReset.connect(lambda: reloads.append(1))
    for _ in range(200):
        window.refresh()
    qtbot.waitUntil(lambda: len(reloads) >= 1, timeout=2000)
    qtbot.wait(400)
    assert len(reloads) <= 2


def test_hidden_window_reloads_when_shown(qtbot, window, ledger):
    window.hide()
    ledger.record(order("1"))
    window.refresh()
    assert window.model.rowCount() == 0  # no work while nobody looks
    window.show()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=2000)
