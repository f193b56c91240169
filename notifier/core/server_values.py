"""How a value a server sent becomes something we keep: bounded text, a money amount.

Used by the order event and the order's details alike (`events`, `order_details`), which is why
it is a module of its own: both rules live once, below both.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from notifier.core.text import shorten

# Longest text we keep from a server for one field; a 5 MB "customer name" is cut, not stored.
MAX_FIELD_CHARS = 2000


def clip(value: object, limit: int = MAX_FIELD_CHARS) -> str | None:
    """A server value as bounded plain text (None stays None)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    # Lone surrogates (from invalid UTF-8 decoded leniently) cannot be stored or printed.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return shorten(text, limit)


def parse_amount(value: object) -> Decimal | None:
    """A money amount from a number or numeric string; None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float | int):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str) or len(value) > 32:
        return None
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        return None
    return amount.quantize(Decimal("0.01"))
