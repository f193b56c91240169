"""What may happen to an order next: the one table both stores decide by.

Every order a shop's log mentions starts `open`. An event of a kind in the table moves it to the
state the table names, in the same transaction (SQLite) or script (Redis) that stores the event,
so two PCs (or two gateways) deciding at once cannot both win. A PC's decision the table does not
allow from the order's state is refused (409, with the state as its outcome) and stored nowhere:
its back end never hears of it. An event from the order system (a customer's cancellation) is a
fact and always stored; it moves the state only where the table allows.

A later state (out for delivery, completed, cancelled by the merchant) is one more row and one
more entry in a row here: the stores and the 409 need nothing new.
"""

from __future__ import annotations

import json

OPEN = "open"

# state -> {event kind -> the state it leads to}
TRANSITIONS: dict[str, dict[str, str]] = {
    OPEN: {"accepted": "accepted", "rejected": "rejected", "cancelled": "cancelled"},
    "accepted": {"cancelled": "cancelled"},
    "rejected": {},
    "cancelled": {},
}

STATE_KINDS = frozenset(kind for moves in TRANSITIONS.values() for kind in moves)
KEEP_S = 14 * 86400.0  # an order's state is forgotten this long after its last change


# How a PC's refused decision is answered (409), by the state that refused it: the error code
# and what became of the order, said after "order <id> ".
REFUSALS: dict[str, tuple[str, str]] = {
    "accepted": ("already_decided", "was already accepted on another PC"),
    "rejected": ("already_decided", "was already rejected on another PC"),
    "cancelled": ("order_cancelled", "was cancelled by the customer"),
}


def next_state(state: str, kind: str) -> str | None:
    """The state after an event of `kind`, or None when the table does not allow it."""
    return TRANSITIONS.get(state, {}).get(kind)


def lua_table() -> str:
    """TRANSITIONS as a Lua table constructor, for the Redis append script."""
    rows = ", ".join(
        f"[{json.dumps(state)}] = {{{', '.join(f'[{json.dumps(kind)}] = {json.dumps(to)}' for kind, to in moves.items())}}}"
        for state, moves in TRANSITIONS.items())
    return "{" + rows + "}"
