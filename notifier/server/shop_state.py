"""Whether a shop is open (营业中) or closed (打烊): a PC of the shop sets it, every PC sees it.

A change is an event in the shop's log (`shop_opened` / `shop_closed`), stored by the same
append as orders and decisions, so every stream gets it in order and a PC that was offline gets
it on resume; the shop's back end is called back like for a decision (it should stop taking
orders while the shop is closed). The state itself is kept with the shop (SQLite: the `shops`
row; Redis: the shop's meta hash) and moved by the append that stores the event, atomically.

Closing never loses an order: an order (or a reminder) the order system sends while the shop is
closed is stored and streamed as always, and its stream frame says `"shop_closed": true`, so the
PC can tell the owner the platform still sends orders. A shop is open until it is first closed.
Asking for the state it is already in stores nothing and answers what it is.
"""

from __future__ import annotations

from notifier.core.protocol import ARRIVED_WHILE_CLOSED, SHOP_ACTIONS

OPEN = "open"
CLOSED = "closed"

SHOP_OPENED, SHOP_CLOSED = SHOP_ACTIONS["open"], SHOP_ACTIONS["close"]

# state -> {event kind -> the state it leads to}
TRANSITIONS: dict[str, dict[str, str]] = {
    OPEN: {SHOP_CLOSED: CLOSED},
    CLOSED: {SHOP_OPENED: OPEN},
}
KINDS = frozenset((SHOP_OPENED, SHOP_CLOSED))
# The kinds that are marked when they arrive while the shop is closed: what the order system sends.
MARKED_KINDS = frozenset(("new_order", "reminder"))
# The key the stored event carries when it arrived while the shop was closed; the stream frame
# carries it beside the event (protocol.event_frame), never inside it.
CLOSED_MARK = ARRIVED_WHILE_CLOSED


def next_state(state: str, kind: str) -> str | None:
    """The shop's state after an event of `kind`, or None when it is already there."""
    return TRANSITIONS.get(state, {}).get(kind)


def marked(encoded: str) -> str:
    """An event's stored JSON (an object) with the closed mark added as its last member."""
    return encoded[:-1] + ',"' + CLOSED_MARK + '":true}'
