"""Where an order is in its life at the shop, and what the shop may do with it next.

An order is 待接单 (`WAITING`) until someone accepts or rejects it, then 已接单 / 待派送
(`ACCEPTED`), 派送中 (`DELIVERING`), 已完成 (`COMPLETED`) — or 已取消 (`CANCELLED`: rejected,
cancelled by the customer, or cancelled by the shop with a reason).

The ledger keeps two facts from which the state follows: how the order's alert ended
(`events.ended_how`, which has said accepted / rejected / cancelled since version 3) and how far
it got after it was accepted (`events.progress`: delivering, completed, cancelled). `state_of`
and `STATE_SQL` are the one rule that turns them into a state, in Python and in SQL.

The actions after 接单 (`DELIVER`, `COMPLETE`, `CANCEL`) are offered only in the states `ALLOWS`
names: 派送 once accepted, 完成 once accepted or out for delivery (a pickup order is never
delivered; a back end that insists on delivery first refuses, and says so), 取消 while accepted
or on its way (an order not yet accepted is rejected instead). The reference server's table
(`server/order_states.py`) is the same.
"""

from __future__ import annotations

WAITING = "waiting"        # 待接单
ACCEPTED = "accepted"      # 已接单 / 待派送
DELIVERING = "delivering"  # 派送中
COMPLETED = "completed"    # 已完成
CANCELLED = "cancelled"    # 已取消 (rejected, or cancelled by the customer or the shop)
STATES = (WAITING, ACCEPTED, DELIVERING, COMPLETED, CANCELLED)

DELIVER, COMPLETE, CANCEL = "deliver", "complete", "cancel"
LIFE_ACTIONS = (DELIVER, COMPLETE, CANCEL)
# action -> the states it may be taken in, and the state it leads to (the `progress` column).
ALLOWS: dict[str, tuple[str, ...]] = {
    DELIVER: (ACCEPTED,),
    COMPLETE: (ACCEPTED, DELIVERING),
    CANCEL: (ACCEPTED, DELIVERING),
}
LEADS_TO = {DELIVER: DELIVERING, COMPLETE: COMPLETED, CANCEL: CANCELLED}
# How far each progress is: news from elsewhere never moves an order back.
RANK = {None: 0, DELIVERING: 1, COMPLETED: 2, CANCELLED: 2}

# ledger.Ending values, spelled out here so the rule has no import cycle with the ledger.
_ACCEPTED_ENDINGS = ("accepted_here", "accepted_elsewhere")
_CANCELLED_ENDINGS = ("rejected_here", "rejected_elsewhere", "cancelled")


def state_of(ended_how: str | None, progress: str | None) -> str:
    """The order's state from its ending and its progress (see the module docstring)."""
    if ended_how in _CANCELLED_ENDINGS:
        return CANCELLED
    if progress in (DELIVERING, COMPLETED, CANCELLED):
        return progress
    if ended_how in _ACCEPTED_ENDINGS:
        return ACCEPTED
    return WAITING


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# The same rule over an `events` row, for filters and counts.
STATE_SQL = (
    f"(CASE WHEN ended_how IN ({_quoted(_CANCELLED_ENDINGS)}) THEN '{CANCELLED}' "
    f"WHEN progress IN ({_quoted((DELIVERING, COMPLETED, CANCELLED))}) THEN progress "
    f"WHEN ended_how IN ({_quoted(_ACCEPTED_ENDINGS)}) THEN '{ACCEPTED}' ELSE '{WAITING}' END)"
)


def allowed(action: str, state: str) -> bool:
    """May `action` (DELIVER, COMPLETE, CANCEL) be taken on an order in `state`?"""
    return state in ALLOWS.get(action, ())


def offered(state: str, capabilities: frozenset[str]) -> tuple[str, ...]:
    """The life actions to offer for an order in `state` on a back end that takes
    `capabilities`, in the order a shop does them."""
    return tuple(a for a in LIFE_ACTIONS if a in capabilities and allowed(a, state))
