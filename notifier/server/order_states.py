"""What may happen to an order next: the one table both stores decide by.

Every order a shop's log mentions starts `open`. An event of a kind in the table moves it to the
state the table names, in the same transaction (SQLite) or script (Redis) that stores the event,
so two PCs (or two gateways) deciding at once cannot both win. A PC's decision the table does not
allow from the order's state is refused (409, with the state as its outcome) and stored nowhere:
its back end never hears of it. An event from the order system (a customer's cancellation) is a
fact and always stored; it moves the state only where the table allows.

The order's life after 接单 follows the merchant clients shops use every day (and sky-take-out's
admin API): 派送 (`out_for_delivery`) only once accepted, 完成 (`completed`) once accepted or out
for delivery (a pickup order is never delivered), and the merchant's own 取消 with a reason
(`cancelled_by_shop`) while the order is accepted or on its way; an order not yet accepted is
rejected instead. Completed, rejected and cancelled orders are final.
"""

from __future__ import annotations

import json

OPEN = "open"
ACCEPTED = "accepted"
REJECTED = "rejected"
OUT_FOR_DELIVERY = "out_for_delivery"
COMPLETED = "completed"
CANCELLED = "cancelled"  # by the customer: the order system's event
CANCELLED_BY_SHOP = "cancelled_by_shop"

# state -> {event kind -> the state it leads to}. Every event kind is named after the state it
# leads to.
TRANSITIONS: dict[str, dict[str, str]] = {
    OPEN: {ACCEPTED: ACCEPTED, REJECTED: REJECTED, CANCELLED: CANCELLED},
    ACCEPTED: {OUT_FOR_DELIVERY: OUT_FOR_DELIVERY, COMPLETED: COMPLETED, CANCELLED_BY_SHOP: CANCELLED_BY_SHOP,
               CANCELLED: CANCELLED},
    OUT_FOR_DELIVERY: {COMPLETED: COMPLETED, CANCELLED_BY_SHOP: CANCELLED_BY_SHOP, CANCELLED: CANCELLED},
    COMPLETED: {},
    REJECTED: {},
    CANCELLED: {},
    CANCELLED_BY_SHOP: {},
}

STATES = tuple(TRANSITIONS)
STATE_KINDS = frozenset(kind for moves in TRANSITIONS.values() for kind in moves)
# The orders the shop took and nobody called off: what today's takings count (today.py).
TAKEN = frozenset((ACCEPTED, OUT_FOR_DELIVERY, COMPLETED))
KEEP_S = 14 * 86400.0  # an order's state is forgotten this long after its last change


# How a PC's refused decision is answered (409), by the state that refused it: the error code
# and what became of the order, said after "order <id> ".
REFUSALS: dict[str, tuple[str, str]] = {
    OPEN: ("not_accepted", "is not accepted yet: accept or reject it first"),
    ACCEPTED: ("already_decided", "was already accepted on another PC"),
    REJECTED: ("already_decided", "was already rejected on another PC"),
    OUT_FOR_DELIVERY: ("already_decided", "is already out for delivery"),
    COMPLETED: ("already_decided", "was already completed"),
    CANCELLED: ("order_cancelled", "was cancelled by the customer"),
    CANCELLED_BY_SHOP: ("order_cancelled", "was cancelled by the shop"),
}


def next_state(state: str, kind: str) -> str | None:
    """The state after an event of `kind`, or None when the table does not allow it."""
    return TRANSITIONS.get(state, {}).get(kind)


def lua_table(transitions: dict[str, dict[str, str]] | None = None) -> str:
    """A transition table (TRANSITIONS by default) as a Lua table constructor, for the Redis
    append script."""
    rows = ", ".join(
        f"[{json.dumps(state)}] = {{{', '.join(f'[{json.dumps(kind)}] = {json.dumps(to)}' for kind, to in moves.items())}}}"
        for state, moves in (TRANSITIONS if transitions is None else transitions).items())
    return "{" + rows + "}"
