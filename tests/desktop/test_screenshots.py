"""Screenshots of the orders window and the settings dialog in Chinese and English, taken from
real windows on the session's X display, for the README and for a person to look at.

Besides saving them, the test checks what a person would notice first: no text cut off (a label
or button narrower than its text) and no English left in the Chinese screens' buttons.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.orders_window import OrdersWindow, day_start
from notifier.desktop.settings_dialog import SettingsDialog

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LANGUAGES = ("zh_CN", "en")

pytestmark = [pytest.mark.needs_session, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def restore_english(qapp):
    yield
    install_translators(qapp, "en")


def clipped(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text needs more width than they were given."""
    found = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or widget.width() <= 0:
            continue
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.text() and not widget.pixmap():
            needed = widget.fontMetrics().horizontalAdvance(widget.text()) + 2 * widget.margin()
            if needed > widget.contentsRect().width() + 1:
                found.append(f"label {widget.text()!r}: {needed} > {widget.contentsRect().width()}")
        elif isinstance(widget, QAbstractButton) and widget.text():
            if widget.sizeHint().width() > widget.width() + 1:
                found.append(f"button {widget.text()!r}: {widget.sizeHint().width()} > {widget.width()}")
    return found


def fill_ledger(ledger: Ledger, clock: list[float]) -> None:
    start = day_start()
    now = time.time()
    customers = ["张伟", "李娜", "王芳", "刘洋", "陈静", "Zhang San", "赵磊", "孙丽"]
    amounts = ["56.50", "32.00", "88.80", "19.90", "124.00", "45.50", "67.20", "23.00"]
    # A day of orders up to now: busier around lunch and dinner.
    hours = [h for h in (8, 10, 11, 11, 12, 12, 12, 13, 17, 18, 18, 19) if start + h * 3600 < now]
    for n, hour in enumerate(hours):
        clock[0] = start + hour * 3600 + 60 * (7 * n % 50)
        ledger.record(OrderEvent(
            kind=OrderKind.NEW_ORDER, order_id=str(1000 + n), source="skytakeout", server="shop:8080",
            order_number=f"17570{n:08d}", amount=Decimal(amounts[n % len(amounts)]),
            customer=customers[n % len(customers)], text=f"订单号：17570{n:08d}"))
    clock[0] = now - 30
    ledger.record(OrderEvent(kind=OrderKind.REMINDER, order_id=str(1000 + max(0, len(hours) - 2)),
                             source="skytakeout", server="shop:8080",
                             order_number=f"17570{max(0, len(hours) - 2):08d}", text="顾客催单"))
    acknowledged = [e.id for e in ledger.recent() if e.event.kind is OrderKind.NEW_ORDER][3:]
    ledger.acknowledge(acknowledged)
    clock[0] = now


@pytest.mark.parametrize("language", LANGUAGES)
def test_orders_window_screenshot(qtbot, qapp, tmp_path, language):
    install_translators(qapp, language)
    clock = [time.time()]
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: clock[0])
    fill_ledger(ledger, clock)
    window = OrdersWindow(ledger, lambda: Settings({"alerts.order_url": "http://admin.example/#/order?orderId={order_id}"}))
    try:
        window.resize(860, 560)
        window.show()
        qtbot.waitExposed(window)
        window.reload()
        window.table.selectRow(0)
        QApplication.processEvents()
        assert window.model.rowCount() > 0 or datetime.now().hour < 8
        assert not clipped(window), clipped(window)
        path = save(window, f"orders_window_{language}.png")
        assert path.stat().st_size > 10_000
    finally:
        shiboken6.delete(window)
        ledger.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_settings_dialog_screenshot(qtbot, qapp, language):
    install_translators(qapp, language)
    settings = Settings({"connection.protocol": "skytakeout", "connection.url": "ws://192.168.1.20:8080/ws/",
                         "skytakeout.admin_url": "http://192.168.1.20:8080", "skytakeout.admin_user": "admin"})
    dialog = SettingsDialog(settings, MemorySecrets({"skytakeout_admin_password": "x"}), first_run=True)
    try:
        dialog.show()
        qtbot.waitExposed(dialog)
        QApplication.processEvents()
        assert not clipped(dialog), clipped(dialog)
        if language == "zh_CN":
            english = [b.text() for b in dialog.findChildren(QAbstractButton)
                       if b.isVisible() and b.text().isascii() and any(c.isalpha() for c in b.text())]
            assert not english, english
        save(dialog, f"settings_dialog_{language}.png")
        for page in range(1, dialog.nav.count()):
            dialog.nav.setCurrentRow(page)
            QApplication.processEvents()
            assert not clipped(dialog), (page, clipped(dialog))
    finally:
        shiboken6.delete(dialog)


def save(widget: QWidget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert widget.grab().save(str(path)), f"could not write {path}"
    return path
