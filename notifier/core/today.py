"""Today at a glance: takings, valid orders, average order and orders by state, for today,
yesterday and the same day last week — what the orders window's header and the tray's tooltip
show.

The back end's own figures win where it has them (sky-take-out's businessData and order
statistics, the reference server's /today: a source says so with `Source.day_figures`); every
day it has none for (sky-take-out keeps no history behind that call) is computed from the
ledger. From the ledger, a valid order is one the shop took and nobody called off (accepted, out
for delivery or completed, like the reference server's `valid_orders`); takings add up their
amounts in the day's main currency. Asking the back end costs a request, so `BackEndFigures`
asks at most once every `min_interval_s` per day and keeps the last answer in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from notifier.core.order_state import ACCEPTED, COMPLETED, DELIVERING, STATES

log = logging.getLogger(__name__)

VALID_STATES = (ACCEPTED, DELIVERING, COMPLETED)
BACK_END_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    orders: int = 0
    valid_orders: int = 0
    takings: Decimal = Decimal("0")
    average_order: Decimal | None = None
    by_state: dict[str, int] = field(default_factory=dict)  # order_state value -> orders
    from_back_end: bool = False


@dataclass(frozen=True, slots=True)
class Glance:
    today: DayFigures
    yesterday: DayFigures
    last_week: DayFigures  # the same weekday a week ago


# (day) -> the back end's figures of that day, or None when it has none (blocking: a request).
BackEndDay = Callable[[date], "DayFigures | None"]


def day_bounds(day: date) -> tuple[float, float]:
    """Local midnight to local midnight of `day`, as epoch seconds."""
    start = datetime.combine(day, datetime.min.time())
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def from_ledger(ledger, day: date) -> DayFigures:
    """The day's figures from the orders the ledger received that day."""
    rows = ledger.day_orders(*day_bounds(day))
    by_state = Counter(state for _amount, _currency, state in rows)
    currencies = Counter(currency for _amount, currency, _state in rows)
    main = currencies.most_common(1)[0][0] if currencies else None
    valid = [(amount, currency) for amount, currency, state in rows if state in VALID_STATES]
    amounts = []
    for amount, currency in valid:
        try:
            if amount is not None and currency == main:
                amounts.append(Decimal(amount))
        except InvalidOperation:
            continue
    takings = sum(amounts, Decimal("0"))
    average = (takings / len(amounts)).quantize(Decimal("0.01")) if amounts else None
    return DayFigures(day, len(rows), len(valid), takings, average,
                      {state: by_state.get(state, 0) for state in STATES})


def merged(ledger_figures: DayFigures, back_end: DayFigures | None) -> DayFigures:
    """The back end's figures where it gave them, the ledger's for the rest (e.g. the states
    its statistics do not count)."""
    if back_end is None:
        return ledger_figures
    return replace(back_end, orders=back_end.orders or ledger_figures.orders,
                   by_state={**ledger_figures.by_state, **back_end.by_state}, from_back_end=True)


class BackEndFigures:
    """Asks the back end for a day's figures at most once every `min_interval_s` (per day), and
    answers from the last answer in between. Thread-safe; the asking blocks (call it off the Qt
    thread). A failing back end costs its figures only: the ledger's are used instead."""

    def __init__(self, ask: BackEndDay | None, min_interval_s: float = BACK_END_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self._ask = ask
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[date, tuple[float, DayFigures | None]] = {}
        self.asked = 0  # requests made, for tests and diagnostics

    def figures(self, day: date) -> DayFigures | None:
        if self._ask is None:
            return None
        with self._lock:
            kept = self._kept.get(day)
            if kept is not None and self._clock() - kept[0] < self.min_interval_s:
                return kept[1]
            self.asked += 1
            try:
                answer = self._ask(day)
            except Exception as exc:  # noqa: BLE001 - the ledger's figures stand in
                log.info("the back end's figures for %s are unavailable: %s", day, exc)
                answer = kept[1] if kept else None
            self._kept = {d: v for d, v in self._kept.items() if d >= day - timedelta(days=8)}
            self._kept[day] = (self._clock(), answer)
            return answer


def at_a_glance(ledger, back_end: BackEndFigures | None = None, now: float | None = None) -> Glance:
    """Today, yesterday and last week's same day (blocking when the back end is asked)."""
    today = datetime.fromtimestamp(time.time() if now is None else now).date()

    def day(d: date) -> DayFigures:
        return merged(from_ledger(ledger, d), back_end.figures(d) if back_end else None)

    return Glance(day(today), day(today - timedelta(days=1)), day(today - timedelta(days=7)))
