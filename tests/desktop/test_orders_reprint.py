"""Reprint from the orders window: the selected order's kitchen ticket printed again, marked as a
reprint, on a real ESC/POS peer on 127.0.0.1, through the print queue (never a reminder)."""

from __future__ import annotations

import pytest
import shiboken6

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.print_queue import PrintQueue
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.orders_window import OrdersWindow
from notifier.desktop.printing import PrintDesk
from tests.fakes.escpos_server import EscposPrinterServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def printer():
    server = EscposPrinterServer().start()
    yield server
    server.stop()


@pytest.fixture
def desk_and_window(qapp, qtbot, tmp_path, printer):
    install_translators(qapp, "en")
    settings = Settings({"printer.print_on": "off", "printer.address": printer.address,
                         "general.language": "en"})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for n in (1, 2):
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop", order_number=f"1130580{n}"))
    ledger.record(OrderEvent(OrderKind.REMINDER, "1", "json", "shop"))
    queue = PrintQueue(ledger.path)
    queue.configure(settings)
    desk = PrintDesk(queue, settings)
    window = OrdersWindow(ledger, lambda: settings)
    window.set_reprint(desk.reprint)
    window.show()
    qtbot.waitExposed(window)
    yield desk, window
    shiboken6.delete(window)
    desk.stop()
    ledger.close()


def test_reprint_prints_the_selected_order_again_marked_as_a_reprint(desk_and_window, printer):
    _desk, window = desk_and_window
    numbers = [window.model.index(row, 2).data() for row in range(window.model.rowCount())]
    window.table.selectRow(numbers.index("11305801"))
    assert window.reprint_selected() == 1
    ticket = printer.wait_for_tickets(1, timeout=15)[0]
    assert "(REPRINT)" in ticket.text and "5801" in ticket.text


def test_a_reminder_is_not_reprinted(desk_and_window, printer):
    _desk, window = desk_and_window
    kinds = [window.model.entries()[row].event.kind for row in range(window.model.rowCount())]
    window.table.selectRow(kinds.index(OrderKind.REMINDER))
    assert window.reprint_selected() == 0
