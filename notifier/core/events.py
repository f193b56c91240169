"""What a shop cares about in one message from a push server: the order event.

Every source decodes its protocol into `OrderEvent`; everything downstream (ledger, listener,
tray, voice) only ever sees this model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from notifier.core.text import shorten


class OrderKind(StrEnum):
    NEW_ORDER = "new_order"
    REMINDER = "reminder"
    CANCELLED = "cancelled"
    REFUND = "refund"


# Longest text we keep from a server for one field; a 5 MB "customer name" is cut, not stored.
MAX_FIELD_CHARS = 2000
MAX_RAW_CHARS = 64 * 1024


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


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    kind: OrderKind
    order_id: str
    source: str  # protocol name: "skytakeout", "json", "notifier", ...
    server: str = ""  # host (and shop) the event came from
    order_number: str | None = None
    amount: Decimal | None = None
    currency: str = "CNY"
    customer: str | None = None
    text: str | None = None
    occurred_at: datetime = field(default_factory=utcnow)
    event_id: str | None = None  # the server's own id for this event (e.g. a sequence number)
    raw: str = ""

    @property
    def key(self) -> str:
        """The stable identity that makes a second arrival of this event a no-op.

        A new order is new once per server, however it reached us (live frame or pull). A server
        event id identifies anything else; reminders without one are deduplicated in a time
        window by the ledger.
        """
        origin = f"{self.source}|{self.server}"
        if self.kind is OrderKind.NEW_ORDER and self.order_id:
            return f"{origin}|new_order|{self.order_id}"
        if self.event_id:
            return f"{origin}|event|{self.event_id}"
        if self.order_id:
            return f"{origin}|{self.kind}|{self.order_id}|{self.occurred_at.timestamp():.3f}"
        digest = hashlib.sha256(self.raw.encode("utf-8", "replace")).hexdigest()[:32]
        return f"{origin}|raw|{digest}"

    @property
    def display_number(self) -> str:
        """What a person calls this order: its number if the server gave one, else its id."""
        return self.order_number or self.order_id

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "event": "order",
            "kind": str(self.kind),
            "order_id": self.order_id,
            "order_number": self.order_number,
            "amount": float(self.amount) if self.amount is not None else None,
            "currency": self.currency,
            "customer": self.customer,
            "text": self.text,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "server": self.server,
            "event_id": self.event_id,
        }

    def to_json_line(self) -> str:
        return json.dumps(self.to_json_dict(), ensure_ascii=False, separators=(",", ":"))
