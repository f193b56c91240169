"""A kitchen ticket: what is printed for one order, as plain data every kind of printer can lay out.

`build_ticket` turns an order (the ledger's `OrderEvent`, plus the items and remark its message
carried) and the shop's template settings (`printer.*`) into a `Ticket`: a list of lines with a
size and an alignment, and an optional QR code. The ESC/POS renderer and the system-printer
renderer only decide how a "huge" line looks on their paper; what is on the ticket is decided here,
once.

The order number is printed with its last four digits biggest, because that is how the voice
says it and how the counter calls it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from notifier.core.events import OrderEvent, OrderKind, parse_amount
from notifier.core.i18n import tr
from notifier.core.order_links import order_url
from notifier.core.wording import TAIL_DIGITS, display_amount, plain

NORMAL, BIG, HUGE = "normal", "big", "huge"
LEFT, CENTER, RIGHT = "left", "center", "right"

# Characters per line at normal size (a CJK character takes two): what the paper holds.
PAPER_COLUMNS = {"58mm": 32, "80mm": 48, "a4": 80}
ITEM_NAME_CHARS = 60
MAX_ITEMS = 100
FIELD_CHARS = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PHONE_KEYS = ("phone", "mobile", "customer_phone", "tel", "telephone")
_REMARK_KEYS = ("remark", "note", "notes", "comment", "备注")
_ITEMS_KEYS = ("items", "dishes", "order_items", "orderDetailList", "details")


@dataclass(frozen=True, slots=True)
class TicketLine:
    text: str
    size: str = NORMAL  # NORMAL, BIG (double height and width) or HUGE (triple and more)
    align: str = LEFT
    bold: bool = False
    # A line in two parts: the prefix at `size`, `tail` bigger (the order number's last digits).
    tail: str = ""
    tail_size: str = HUGE


@dataclass(frozen=True, slots=True)
class Ticket:
    lines: tuple[TicketLine, ...]
    qr: str = ""  # the order URL, printed as a QR code under the lines when not empty
    columns: int = 32
    copy: int = 1
    copies: int = 1
    order_number: str = ""
    title: str = field(default="")

    def text(self) -> str:
        """The ticket as plain text, one line per line (what a test or a log compares)."""
        return "\n".join(line.text + line.tail for line in self.lines)


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    quantity: int | None = None
    price: Decimal | None = None


def one_line(value: object, limit: int = FIELD_CHARS) -> str:
    """Server text as one printable line: control characters (which a printer would obey as
    commands) removed, runs of space folded, bounded."""
    if value is None:
        return ""
    text = _CONTROL.sub(" ", str(value))
    return plain(" ".join(text.split()), limit)


def mask_phone(phone: str) -> str:
    """138****5678: enough for the rider to match the call, not enough to keep the number."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 2:
        return digits[0] + "*" * (len(digits) - 2) + digits[-1]
    return "*" * len(digits)


def split_number(number: str) -> tuple[str, str]:
    """("1798241", "4567") for "17982414567": the tail is what people call the order by."""
    if len(number) > TAIL_DIGITS:
        return number[:-TAIL_DIGITS], number[-TAIL_DIGITS:]
    return "", number


def _message(event: OrderEvent) -> dict[str, Any]:
    """The original message as a JSON object (reference server and JSON sources), else {}."""
    if not event.raw or not event.raw.lstrip().startswith("{"):
        return {}
    try:
        data = json.loads(event.raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    # The reference server wraps the order in an envelope; look inside it too.
    for inner in ("order", "data", "payload"):
        if isinstance(data.get(inner), dict):
            merged = dict(data[inner])
            merged.update({k: v for k, v in data.items() if k not in merged})
            return merged
    return data


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


def _quantity(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None
    return number if 0 <= number < 100_000 else None


def _fields(event: OrderEvent, details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The order's message, with what the back end's order details added where it is silent
    (sky-take-out's frames carry no items; its admin API's details do, kept in the ledger)."""
    merged = dict(details or {})
    merged.update({k: v for k, v in _message(event).items() if v not in (None, "")})
    return merged


def order_items(event: OrderEvent, details: Mapping[str, Any] | None = None) -> list[Item]:
    """The items the order's message (or its details) listed (name, quantity, price), or []."""
    raw_items = _first(_fields(event, details), _ITEMS_KEYS)
    if not isinstance(raw_items, list):
        return []
    items: list[Item] = []
    for raw in raw_items[:MAX_ITEMS]:
        if isinstance(raw, str):
            items.append(Item(one_line(raw, ITEM_NAME_CHARS)))
        elif isinstance(raw, dict):
            name = one_line(_first(raw, ("name", "title", "dish", "item")), ITEM_NAME_CHARS)
            if not name:
                continue
            items.append(Item(
                name,
                _quantity(_first(raw, ("quantity", "qty", "count", "number", "amount_count"))),
                parse_amount(_first(raw, ("price", "amount", "total"))),
            ))
    return items


def order_remark(event: OrderEvent, details: Mapping[str, Any] | None = None) -> str:
    return one_line(_first(_fields(event, details), _REMARK_KEYS))


def order_phone(event: OrderEvent, details: Mapping[str, Any] | None = None) -> str:
    return one_line(_first(_fields(event, details), _PHONE_KEYS), 32)


def display_width(text: str) -> int:
    """Columns on a receipt printer: CJK and other wide characters take two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _item_line(item: Item, columns: int, language: str, currency: str) -> str:
    right = f"x{item.quantity}" if item.quantity is not None else ""
    if item.price is not None:
        right += ("  " if right else "") + display_amount(item.price, language, currency)
    name = item.name
    room = columns - display_width(right) - 1
    while name and display_width(name) > room:
        name = name[:-1]
    gap = max(1, columns - display_width(name) - display_width(right))
    return name + " " * gap + right if right else name


def build_ticket(
    event: OrderEvent,
    settings: Mapping[str, Any],
    *,
    language: str = "zh_CN",
    reprint: bool = False,
    copy: int = 1,
    copies: int = 1,
    printed_at: datetime | None = None,
    test_page: bool = False,
    details: Mapping[str, Any] | None = None,
) -> Ticket:
    """The ticket for `event` under the shop's template settings (`printer.*`); `details`: what
    the ledger keeps from the back end's order details (items, remark, phone), if anything."""
    columns = PAPER_COLUMNS.get(settings["printer.paper"], 32)
    rule = "-" * columns
    lines: list[TicketLine] = []
    shop = one_line(settings["printer.shop_name"], 60)
    if shop:
        lines.append(TicketLine(shop, BIG, CENTER, bold=True))
    if test_page:
        title = tr("Printer test page")
    elif event.kind is OrderKind.REMINDER:
        title = tr("Reminder")
    else:
        title = tr("New order")
    if reprint:
        title += " " + tr("(REPRINT)")
    lines.append(TicketLine(title, NORMAL, CENTER, bold=True))
    number = one_line(event.display_number, 40)
    head, tail = split_number(number)
    lines.append(TicketLine("#" + head, BIG, CENTER, bold=True, tail=tail, tail_size=HUGE))
    if copies > 1:
        lines.append(TicketLine(tr("Copy {copy} of {copies}", copy=copy, copies=copies), NORMAL, CENTER))
    lines.append(TicketLine(rule))
    if settings["printer.show_time"]:
        when = event.occurred_at.astimezone() if event.occurred_at.tzinfo else event.occurred_at
        lines.append(TicketLine(tr("Ordered: {time}", time=when.strftime("%Y-%m-%d %H:%M"))))
        if reprint and printed_at is not None:
            lines.append(TicketLine(tr("Printed: {time}", time=printed_at.strftime("%Y-%m-%d %H:%M"))))
    if settings["printer.show_items"]:
        items = order_items(event, details)
        if items:
            lines.append(TicketLine(rule))
            lines.extend(TicketLine(_item_line(item, columns, language, event.currency), bold=True)
                         for item in items)
    if settings["printer.show_remark"]:
        remark = order_remark(event, details)
        if remark:
            lines.append(TicketLine(rule))
            lines.append(TicketLine(tr("Remark: {remark}", remark=remark), BIG, bold=True))
    if settings["printer.show_amount"] and event.amount is not None:
        lines.append(TicketLine(rule))
        lines.append(TicketLine(
            tr("Amount: {amount}", amount=display_amount(event.amount, language, event.currency)),
            BIG, RIGHT, bold=True))
    customer = one_line(event.customer, 60) if settings["printer.show_customer"] else ""
    phone = order_phone(event, details) if settings["printer.show_phone"] else ""
    if phone and settings["printer.mask_phone"]:
        phone = mask_phone(phone)
    if customer or phone:
        lines.append(TicketLine(rule))
        if customer:
            lines.append(TicketLine(tr("Customer: {customer}", customer=customer)))
        if phone:
            lines.append(TicketLine(tr("Phone: {phone}", phone=phone)))
    qr = ""
    if settings["printer.show_qr"]:
        qr = order_url(settings["alerts.order_url"], event)
    lines.append(TicketLine(rule))
    return Ticket(tuple(lines), qr, columns, copy, copies, number, title)
