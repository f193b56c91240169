"""What a kitchen needs to know about one order beyond its number, amount and customer: the
dishes (name, quantity, price, notes), the customer's remark, phone and address.

One value, `OrderDetails`, carried by `OrderEvent.details`. Each source's decoder fills it from
what its back end sends (`core/sources/`, and `core/protocol.py` for the reference server's
schema); the ledger stores it (one JSON column); the ticket, the orders window and `notifier
listen` read it. Nothing after the decoder looks at the wire message or guesses item keys.

The value is bounded as it is made: at most `MAX_ITEMS` items are kept, and how many more the
back end listed is kept as a count (`more_items`), so a ticket can say "…and N more" instead of
cutting silently. Text is kept as sent (bounded, valid Unicode); making it printable or
displayable is the reader's job (`text.plain`, the ticket's own rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from notifier.core.server_values import clip, parse_amount

MAX_ITEMS = 200
NAME_CHARS = 100
NOTES_CHARS = 200
REMARK_CHARS = 500
PHONE_CHARS = 32
ADDRESS_CHARS = 300
MAX_QUANTITY = 99_999


def bounded_text(value: object, limit: int) -> str:
    """A server value as bounded text ("" for nothing, numbers as their digits)."""
    if value is None or isinstance(value, bool | dict | list | tuple):
        return ""
    return (clip(value, limit) or "").strip()


def quantity_of(value: object) -> int | None:
    """A count of a dish: a whole number 0…MAX_QUANTITY (also from "2" or 2.0), else None."""
    if value is None or isinstance(value, bool):
        return None
    amount = parse_amount(value)
    if amount is None or amount != amount.to_integral_value() or not 0 <= amount <= MAX_QUANTITY:
        return None
    return int(amount)


@dataclass(frozen=True, slots=True)
class OrderItem:
    name: str
    quantity: int | None = None
    price: Decimal | None = None
    notes: str = ""  # the dish's own spec or flavour ("大份，微辣")

    @classmethod
    def of(cls, name: object, quantity: object = None, price: object = None,
           notes: object = None) -> OrderItem | None:
        """An item from a back end's values, bounded; None when it has no name."""
        text = bounded_text(name, NAME_CHARS)
        if not text:
            return None
        return cls(text, quantity_of(quantity), parse_amount(price), bounded_text(notes, NOTES_CHARS))

    def to_json_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.quantity is not None:
            data["quantity"] = self.quantity
        if self.price is not None:
            data["price"] = str(self.price)
        if self.notes:
            data["notes"] = self.notes
        return data


@dataclass(frozen=True, slots=True)
class OrderDetails:
    items: tuple[OrderItem, ...] = ()
    more_items: int = 0  # items the back end listed beyond MAX_ITEMS, which are not kept
    remark: str = ""
    phone: str = ""
    address: str = ""

    @classmethod
    def of(cls, items: Iterable[OrderItem | None] = (), *, remark: object = None,
           phone: object = None, address: object = None) -> OrderDetails:
        """Details from a decoder's values: items without a name are left out, at most
        MAX_ITEMS are kept and the rest counted, text bounded."""
        kept: list[OrderItem] = []
        more = 0
        for item in items:
            if item is None:
                continue
            if len(kept) < MAX_ITEMS:
                kept.append(item)
            else:
                more += 1
        return cls(tuple(kept), more, bounded_text(remark, REMARK_CHARS),
                   bounded_text(phone, PHONE_CHARS), bounded_text(address, ADDRESS_CHARS))

    def __bool__(self) -> bool:
        return bool(self.items or self.more_items or self.remark or self.phone or self.address)

    @property
    def item_count(self) -> int:
        """How many items the back end listed (kept and not)."""
        return len(self.items) + self.more_items

    def to_json_dict(self) -> dict[str, Any]:
        """The stored form (the ledger's `details` column) and `notifier listen`'s fields."""
        data: dict[str, Any] = {}
        if self.items:
            data["items"] = [item.to_json_dict() for item in self.items]
        if self.more_items:
            data["more_items"] = self.more_items
        for name in ("remark", "phone", "address"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> OrderDetails:
        """The value `to_json_dict` stored (what is not understood is left out, never raised)."""
        raw_items = data.get("items")
        items = []
        if isinstance(raw_items, list):
            items = [OrderItem.of(i.get("name"), i.get("quantity"), i.get("price"), i.get("notes"))
                     for i in raw_items if isinstance(i, Mapping)]
        details = cls.of(items, remark=data.get("remark"), phone=data.get("phone"),
                         address=data.get("address"))
        more = data.get("more_items")
        if isinstance(more, int) and not isinstance(more, bool) and more > 0:
            details = cls(details.items, details.more_items + more, details.remark, details.phone,
                          details.address)
        return details


NO_DETAILS = OrderDetails()
