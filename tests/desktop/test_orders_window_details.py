"""The orders window shows one order's details (its row's tooltip): the dishes, the remark, the
phone and the address the order's source decoded, in the owner's language, from a real ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
import shiboken6
from PySide6.QtCore import Qt

from notifier.core import i18n
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_details import MAX_ITEMS, OrderDetails, OrderItem
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.orders_window import OrdersWindow

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def chinese(qapp):
    install_translators(qapp, "zh_CN")
    yield
    install_translators(qapp, "en")
    i18n.set_language("en")


@pytest.fixture
def window(qtbot, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    window = OrdersWindow(ledger, lambda: Settings())
    yield window
    shiboken6.delete(window)
    ledger.close()


def tooltip(window: OrdersWindow) -> list[str]:
    window.reload()
    return window.model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole).splitlines()


def test_an_orders_dishes_remark_phone_and_address_are_in_its_details(chinese, window):
    details = OrderDetails.of([OrderItem.of("宫保鸡丁", 2, "28.00", "微辣"), OrderItem.of("米饭", 3)],
                              remark="不要香菜\x1b[31m", phone="13812345678", address="幸福路 8 号")
    window.ledger.record(OrderEvent(OrderKind.NEW_ORDER, "1", "notifier", "h/shop", order_number="3001",
                                    amount=Decimal("59.00"), details=details))
    lines = tooltip(window)
    assert "宫保鸡丁 ×2  28.00 元 (微辣)" in lines and "米饭 ×3" in lines
    assert "备注：不要香菜 [31m" in lines
    assert "电话：13812345678" in lines and "地址：幸福路 8 号" in lines


def test_a_big_order_lists_the_first_dishes_and_counts_the_rest(chinese, window):
    details = OrderDetails.of([OrderItem.of(f"菜{n}", 1) for n in range(MAX_ITEMS + 5)])
    window.ledger.record(OrderEvent(OrderKind.NEW_ORDER, "2", "json", "h", details=details))
    lines = tooltip(window)
    assert sum(1 for line in lines if line.startswith("菜")) == 30
    assert "……另有 175 个菜品" in lines
