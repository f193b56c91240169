"""An order's details (items, remark, phone, address) as lines of text for the orders window.

The window shows one order's details in the tooltip of its row; these are the lines that say
what the kitchen needs, in the owner's language, each made plain (no control characters) and
bounded, with "…and N more" where the back end listed more items than are kept.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from notifier.core.order_details import OrderDetails
from notifier.core.text import plain
from notifier.core.wording import display_amount

MAX_ITEM_LINES = 30  # a tooltip is not a ticket: the rest is counted, not listed


def details_lines(details: OrderDetails, language: str, currency: str = "CNY") -> list[str]:
    """"宫保鸡丁 ×2  28.00 元 (微辣)", …, "…and 3 more items", "Remark: …", "Phone: …", "Address: …"."""
    lines = []
    for item in details.items[:MAX_ITEM_LINES]:
        line = plain(item.name, 100)
        if item.quantity is not None:
            line += f" ×{item.quantity}"
        if item.price is not None:
            line += "  " + display_amount(item.price, language, currency)
        if item.notes:
            line += f" ({plain(item.notes, 100)})"
        lines.append(line)
    more = details.item_count - min(len(details.items), MAX_ITEM_LINES)
    if more:
        lines.append(QCoreApplication.translate("OrderDetails", "…and %1 more items").replace(
            "%1", str(more)))
    for label, value in (
            (QCoreApplication.translate("OrderDetails", "Remark: %1"), details.remark),
            (QCoreApplication.translate("OrderDetails", "Phone: %1"), details.phone),
            (QCoreApplication.translate("OrderDetails", "Address: %1"), details.address)):
        if value:
            lines.append(label.replace("%1", plain(value, 300)))
    return lines
