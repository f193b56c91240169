"""Today at a glance, computed in core: from the ledger (takings, valid orders, average, orders by
state; yesterday and last week's same day), and from the sky-take-out double's businessData and
statistics where the back end has them, asked at most once per interval."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from notifier.core import order_state
from notifier.core.action_outbox import ActionOutbox
from notifier.core.connection import ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending, Ledger
from notifier.core.today import BackEndFigures, at_a_glance, from_ledger
from tests.fakes.running_source import sky_settings
from tests.fakes.skytakeout_server import COMPLETED
from tests.fakes.util import wait_until


def order(order_id: str, amount: str | None) -> OrderEvent:
    return OrderEvent(kind=OrderKind.NEW_ORDER, order_id=order_id, source="json", server="shop",
                      amount=Decimal(amount) if amount else None)


def noon(days_ago: int) -> float:
    day = date.today() - timedelta(days=days_ago)
    return datetime.combine(day, datetime.min.time()).timestamp() + 12 * 3600


def test_figures_from_the_ledger_for_today_yesterday_and_last_week(tmp_path):
    now = [noon(0)]
    ledger = Ledger(tmp_path / "h.db", clock=lambda: now[0])
    outbox = ActionOutbox(ledger.path, clock=lambda: now[0])
    try:
        for order_id, amount in (("1", "30.00"), ("2", "12.50"), ("3", "99.00"), ("4", None), ("5", "8.00")):
            ledger.record(order(order_id, amount))
        outbox.decide("t", "json", "shop", "1", "accept", connection_id="")
        outbox.decide("t", "json", "shop", "2", "accept", connection_id="")
        outbox.decide("t", "json", "shop", "2", "deliver", connection_id="")
        outbox.decide("t", "json", "shop", "3", "reject", "太忙", connection_id="")
        outbox.decide("t", "json", "shop", "5", "accept", connection_id="")
        outbox.decide("t", "json", "shop", "5", "cancel", "售完", connection_id="")
        now[0] = noon(1)
        ledger.record(order("y1", "20.00"))
        ledger.end_order("json", "shop", "y1", Ending.ACCEPTED_ELSEWHERE, connection_id="")
        now[0] = noon(7)
        ledger.record(order("w1", "7.00"))
        ledger.record(order("w2", "5.00"))
        ledger.end_order("json", "shop", "w1", Ending.ACCEPTED_ELSEWHERE, connection_id="")
        ledger.set_progress("json", "shop", "w1", order_state.COMPLETED, connection_id="")

        glance = at_a_glance(ledger, now=noon(0))
        today = glance.today
        assert (today.orders, today.valid_orders, today.takings, today.average_order) == (
            5, 2, Decimal("42.50"), Decimal("21.25"))
        assert today.by_state == {"waiting": 1, "accepted": 1, "delivering": 1, "completed": 0, "cancelled": 2}
        assert not today.from_back_end
        assert (glance.yesterday.valid_orders, glance.yesterday.takings) == (1, Decimal("20.00"))
        assert (glance.last_week.orders, glance.last_week.valid_orders, glance.last_week.takings) == (
            2, 1, Decimal("7.00"))
        assert glance.last_week.by_state["completed"] == 1
        empty = from_ledger(ledger, date.today() - timedelta(days=3))
        assert (empty.orders, empty.takings, empty.average_order) == (0, Decimal("0"), None)
    finally:
        outbox.close()
        ledger.close()


def test_figures_from_the_skytakeout_back_end_at_most_once_per_interval(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    for amount in ("30.00", "12.50", "9.90"):
        record = double.pay(amount=amount)
        wait_until(lambda r=record: str(r["id"]) in running.order_ids(), 10)
        if amount != "9.90":
            with double._lock:
                double.orders[record["id"]]["status"] = COMPLETED
    clock = [1000.0]
    back_end = BackEndFigures(running.source.day_figures, min_interval_s=30, clock=lambda: clock[0])
    glance = at_a_glance(ledger, back_end)
    today = glance.today
    assert today.from_back_end and (today.valid_orders, today.takings, today.average_order) == (
        2, Decimal("42.50"), Decimal("21.25"))
    assert today.by_state["waiting"] == 1, "statistics: toBeConfirmed"
    assert not glance.yesterday.from_back_end, "businessData has today only: the ledger's yesterday"
    asked = [p for _m, p, _b in double.state.requests if p == "/admin/workspace/businessData"]
    assert len(asked) == 1
    at_a_glance(ledger, back_end)
    assert len([p for _m, p, _b in double.state.requests if p == "/admin/workspace/businessData"]) == 1
    clock[0] += 31
    double.stop()  # the back end is down: its last figures stand, nothing is raised
    assert at_a_glance(ledger, back_end).today.takings == Decimal("42.50")
