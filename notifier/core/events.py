"""What a shop cares about in one message from a push server: the order event.

Every source decodes its protocol into `OrderEvent` (with the order's items, remark, phone and
address in its `details`, see `order_details`); everything downstream (ledger, listener, tray,
voice, tickets) only ever sees this model, never the message it came from.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from notifier.core.digests import sha256_hex
from notifier.core.order_details import NO_DETAILS, OrderDetails

# Re-exported: the sources and the protocol take the two value rules from here with the event.
from notifier.core.server_values import MAX_FIELD_CHARS, clip, parse_amount  # noqa: F401


class OrderKind(StrEnum):
    NEW_ORDER = "new_order"
    REMINDER = "reminder"
    CANCELLED = "cancelled"
    REFUND = "refund"


MAX_RAW_CHARS = 64 * 1024
# How long after an order arrives its details may still come, for a source that fetches them
# separately (it sets `OrderEvent.details_due` to then): the voice line and the ticket wait at
# most this long for what the order is worth, then go without.
DETAILS_WAIT_S = 1.5


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
    raw: str = ""  # the message as it came, for the record only: nobody after the source reads it
    details: OrderDetails = NO_DETAILS
    # Set by a source that is still fetching this order's details (amount, items): the wall-clock
    # time (`time.time()`) until which they may arrive. See `details_wait_s`.
    details_due: float | None = None
    # Which of the shop's connections it came through (core.connections), set by the intake:
    # the name the shop chose, shown to people ("" with only one connection: nothing to tell
    # apart), and the connection's stable id, which scopes the key ("" for the connection a
    # single-connection settings file was upgraded to, so its history keeps its keys).
    connection: str = ""
    connection_id: str = ""

    @property
    def key(self) -> str:
        """The stable identity that makes a second arrival of this event a no-op.

        A new order is new once per server, however it reached us (live frame or pull). A server
        event id identifies anything else; reminders without one are deduplicated in a time
        window by the ledger.

        One string object per key, however often it is asked for (interned): the alert centre,
        the escalation steps and the decisions each keep the keys of the orders waiting, which
        after a burst of a thousand would otherwise be a thousand copies each.
        """
        return sys.intern(self._key_text())

    def _key_text(self) -> str:
        origin = f"{self.source}|{self.server}"
        if self.connection_id:  # the same order id on two connections is two orders
            origin = f"{self.connection_id}|{origin}"
        if self.kind is OrderKind.NEW_ORDER and self.order_id:
            return f"{origin}|new_order|{self.order_id}"
        if self.event_id:
            return f"{origin}|event|{self.event_id}"
        if self.order_id:
            return f"{origin}|{self.kind}|{self.order_id}|{self.occurred_at.timestamp():.3f}"
        digest = sha256_hex(self.raw.encode("utf-8", "replace"))[:32]
        return f"{origin}|raw|{digest}"

    def without_frame(self) -> OrderEvent:
        """This order without its wire frame, under the same key: what the parts that keep
        waiting orders in memory hold (the frame is in the ledger). One copy for all of them
        (the bridge hands this one out): after a burst of a thousand, every copy more is a
        thousand orders more. An order keyed by its frame alone keeps the frame."""
        if not self.raw or not (self.event_id or self.order_id):
            return self
        return replace(self, raw="")

    def details_wait_s(self, now: float | None = None) -> float:
        """How much longer whoever tells or prints this order should wait for its details: the
        one rule for the voice line and the ticket (0 when none are coming, or no longer)."""
        if self.details_due is None:
            return 0.0
        return max(0.0, self.details_due - (time.time() if now is None else now))

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
            "connection": self.connection,
            "event_id": self.event_id,
            **self.details.to_json_dict(),
        }
