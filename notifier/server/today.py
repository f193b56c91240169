"""A shop's figures for one day (今日数据): takings, valid orders, average order, orders by state.

Computed from the shop's event log, the same way on both stores (each only reads the events
received since a moment, `events_since`): the day's orders are the `new_order` events received
between the day's two local midnights, in the time zone the PC asks for (the server's own by
default); each order's state is what the later events made of it, folded through the very table
the stores decide by (order_states.py), so the figures agree with what every PC was told.

- `orders`: the day's orders; `by_state`: how many are in each state now.
- `valid_orders`: those the shop took and nobody called off (accepted, out for delivery or
  completed); `takings`: the sum of their amounts; `average_order`: takings / valid orders
  that have an amount. Amounts in another currency than the day's main one are not added up
  (`other_currency_orders` counts them).
- `completion_rate`: completed / orders (sky-take-out's `orderCompletionRate`).
- `arrived_while_closed`: orders that came while the shop was closed (打烊).
- `complete`: False when the day began before the oldest events the server keeps
  (`--retention-days`): older orders are gone and not counted.

The cost is one read of the events since the day began (a shop's day is hundreds of events).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date as Date
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.core.protocol import ARRIVED_WHILE_CLOSED
from notifier.server import order_states

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")


class DayError(ValueError):
    """A `date` or `tz` the server cannot use; `field` names which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def zone_of(name: str | None) -> tzinfo:
    """The IANA time zone `name` (e.g. Asia/Shanghai), or the server's own for None/""."""
    if not name:
        return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")
    if not _ZONE.fullmatch(name) or ".." in name:
        raise DayError("tz", "tz must be a time zone name such as Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DayError("tz", f"unknown time zone {name!r}: use a name such as Asia/Shanghai") from None


def day_bounds(day: str | None, zone: tzinfo, now: float) -> tuple[Date, float, float]:
    """(the day, its first second, the first second of the next day) as unix times; today in
    `zone` when `day` is None."""
    if day is None:
        when = datetime.fromtimestamp(now, zone).date()
    else:
        if not _DATE.fullmatch(day):
            raise DayError("date", "date must be a day written YYYY-MM-DD")
        try:
            when = Date.fromisoformat(day)
        except ValueError:
            raise DayError("date", f"{day} is not a day of the calendar") from None
    start = datetime(when.year, when.month, when.day, tzinfo=zone)
    # Adding a day to an aware datetime keeps its wall clock: a 23 or 25 hour day at a change
    # of summer time still ends at the next midnight.
    end = start + timedelta(days=1)
    return when, start.timestamp(), end.timestamp()


def figures(events: Iterable[tuple[int, float, dict[str, Any]]], start: float, end: float) -> dict[str, Any]:
    """The day's figures from the shop's events received since `start`, in log order."""
    orders: dict[str, dict[str, Any]] = {}  # order id -> {"state", "amount", "currency", "closed"}
    for _seq, received_at, event in events:
        kind, order_id = event.get("kind"), event.get("order_id")
        if not isinstance(order_id, str):
            continue
        order = orders.get(order_id)
        if kind == "new_order":
            if order is None and start <= received_at < end:
                orders[order_id] = {"state": order_states.OPEN, "amount": event.get("amount"),
                                    "currency": event.get("currency") or "CNY",
                                    "closed": bool(event.get(ARRIVED_WHILE_CLOSED))}
            continue
        if order is not None:
            order["state"] = order_states.next_state(order["state"], kind) or order["state"]
    by_state = Counter(order["state"] for order in orders.values())
    taken = [order for order in orders.values() if order["state"] in order_states.TAKEN]
    currency = Counter(order["currency"] for order in taken).most_common(1)
    main = currency[0][0] if currency else "CNY"
    amounts = [Decimal(order["amount"]) for order in taken if order["amount"] is not None and order["currency"] == main]
    takings = sum(amounts, Decimal("0.00"))
    return {
        "orders": len(orders),
        "valid_orders": len(taken),
        "takings": str(takings.quantize(Decimal("0.01"))),
        "currency": main,
        "average_order": str((takings / len(amounts)).quantize(Decimal("0.01"))) if amounts else None,
        "completion_rate": round(by_state[order_states.COMPLETED] / len(orders), 4) if orders else None,
        "by_state": {state: by_state[state] for state in order_states.STATES},
        "arrived_while_closed": sum(1 for order in orders.values() if order["closed"]),
        "other_currency_orders": sum(1 for order in taken if order["currency"] != main),
    }
