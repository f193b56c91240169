"""Sky-take-out's day figures as ours: `GET /admin/workspace/businessData` (turnover,
validOrderCount, unitPrice — it counts completed orders as valid) and `GET /admin/order/statistics`
(orders waiting, confirmed, out for delivery now) read into a `today.DayFigures`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from notifier.core.order_state import ACCEPTED, DELIVERING, WAITING
from notifier.core.today import DayFigures

STATISTICS = {"toBeConfirmed": WAITING, "confirmed": ACCEPTED, "deliveryInProgress": DELIVERING}


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def figures_of(day: date, business: dict | None, statistics: dict | None) -> DayFigures | None:
    """None when businessData said nothing usable."""
    if not isinstance(business, dict):
        return None
    valid = business.get("validOrderCount")
    valid = valid if isinstance(valid, int) and not isinstance(valid, bool) else 0
    by_state = {ours: statistics[theirs] for theirs, ours in STATISTICS.items()
                if isinstance(statistics, dict) and isinstance(statistics.get(theirs), int)}
    return DayFigures(day, 0, valid, _money(business.get("turnover")) or Decimal("0.00"),
                      _money(business.get("unitPrice")) if valid else None, by_state, True)
