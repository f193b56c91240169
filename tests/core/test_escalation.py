"""When orders and lost connections escalate (notifier.core.escalation), on a clock the test
moves: minutes of waiting take no time. Which orders still wait is a real ledger's answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from notifier.core import escalation_wording as words
from notifier.core.escalation import (
    BACK_SETTLE_S,
    GATHER_S,
    PHONE_GAP_S,
    ConnectionEscalations,
    OrderEscalations,
    Step,
)
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger, LedgerEntry
from tests.helpers import ManualClock

MIN = 60.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


def order(ledger: Ledger, number: int, kind: OrderKind = OrderKind.NEW_ORDER) -> OrderEvent:
    event = OrderEvent(kind, str(number), "notifier", "shop.example", order_number=str(number),
                       amount=Decimal("18.80"), event_id=f"e{number}")
    assert ledger.record(event)
    return event


def entry(ledger: Ledger, event: OrderEvent) -> LedgerEntry:
    found = ledger.find(event.key)
    assert found is not None
    return found


def policy(ledger: Ledger, clock: ManualClock, louder: float = 3 * MIN, phone: float = 5 * MIN) -> OrderEscalations:
    return OrderEscalations(louder, phone, still_waiting=ledger.unacknowledged_among, clock=clock)


def run_until(escalations: OrderEscalations, clock: ManualClock, end: float):
    """Move the clock to each moment `next_due()` names and take what is due, for `end` seconds:
    what the app's timer does. Returns [(seconds since start, escalation)]."""
    start, taken = clock.now, []
    for _round in range(1000):
        next_due = escalations.next_due()
        if next_due is None or next_due - start > end:
            return taken
        clock.now = max(clock.now, next_due)
        taken += [(round(clock.now - start), e) for e in escalations.due()]
    raise AssertionError("next_due() kept naming a moment at which nothing was due")


def test_an_unacted_order_escalates_once_per_step_at_the_configured_times(ledger, clock):
    escalations = policy(ledger, clock)
    event = order(ledger, 1)
    escalations.arrived([event])

    clock.advance(3 * MIN - 1)
    assert escalations.due() == []
    assert escalations.next_due() == pytest.approx(clock.now + 1)
    clock.advance(1)
    [louder] = escalations.due()
    assert (louder.step, louder.orders, louder.waited_s) == (Step.LOUDER, (event,), 3 * MIN)
    assert escalations.due() == []  # once
    assert escalations.next_due() == pytest.approx(clock.now + 2 * MIN)
    clock.advance(2 * MIN)
    [phone] = escalations.due()
    assert (phone.step, phone.orders, phone.waited_s) == (Step.PHONE, (event,), 5 * MIN)
    clock.advance(60 * MIN)
    assert escalations.due() == [] and escalations.next_due() is None  # and never again


def test_other_step_times_are_kept(ledger, clock):
    escalations = policy(ledger, clock, louder=1 * MIN, phone=10 * MIN)
    escalations.arrived([order(ledger, 1)])
    taken = run_until(escalations, clock, 30 * MIN)
    assert [(at, e.step) for at, e in taken] == [(60, Step.LOUDER), (600, Step.PHONE)]


def test_a_step_set_to_zero_is_off(ledger, clock):
    escalations = policy(ledger, clock, louder=0, phone=5 * MIN)
    escalations.arrived([order(ledger, 1)])
    assert [(at, e.step) for at, e in run_until(escalations, clock, 30 * MIN)] == [(300, Step.PHONE)]
    escalations = policy(ledger, clock, louder=0, phone=0)
    escalations.arrived([order(ledger, 2)])
    assert escalations.next_due() is None


def test_an_acknowledged_order_never_escalates(ledger, clock):
    escalations = policy(ledger, clock)
    event = order(ledger, 1)
    escalations.arrived([event])
    clock.advance(2 * MIN)
    # Acknowledged in the orders window: the ledger knows, nobody told the escalation.
    ledger.acknowledge([entry(ledger, event).id])
    assert run_until(escalations, clock, 30 * MIN) == []
    assert escalations.waiting() == 0


def test_an_order_ended_elsewhere_never_takes_the_phone_step(ledger, clock):
    escalations = policy(ledger, clock)
    event = order(ledger, 1)
    escalations.arrived([event])
    clock.advance(3 * MIN)
    assert [e.step for e in escalations.due()] == [Step.LOUDER]
    ledger.end_order("notifier", "shop.example", "1", "accepted_elsewhere", connection_id="")  # another PC took it
    assert run_until(escalations, clock, 30 * MIN) == []


def test_settled_orders_are_forgotten_at_once(ledger, clock):
    escalations = policy(ledger, clock)
    event = order(ledger, 1)
    escalations.arrived([event])
    escalations.settled([event.key])
    assert escalations.next_due() is None


def test_a_burst_of_50_becomes_one_message_per_step(ledger, clock):
    escalations = policy(ledger, clock)
    events = []
    for number in range(50):  # fifty orders within ten seconds
        events.append(order(ledger, number))
        escalations.arrived([events[-1]])
        clock.advance(0.2)
    taken = run_until(escalations, clock, 30 * MIN)

    assert [e.step for _at, e in taken] == [Step.LOUDER, Step.PHONE]
    assert [len(e.orders) for _at, e in taken] == [50, 50]
    assert taken[1][1].orders[0] == events[0]  # oldest first
    message = words.orders_message(taken[1][1].orders, taken[1][1].waited_s, "面馆", "zh_CN")
    assert message.title.startswith("【面馆】50 个订单已等待 5 分钟")
    assert "还有 40 个订单" in message.body


def test_orders_far_apart_take_their_steps_apart_but_the_phone_never_floods(ledger, clock):
    escalations = policy(ledger, clock, louder=0)
    escalations.arrived([order(ledger, 1)])
    apart = GATHER_S + 5  # too far apart to be gathered with the first
    clock.advance(apart)
    escalations.arrived([order(ledger, 2)])
    taken = run_until(escalations, clock, 30 * MIN)
    # Seconds since the first order: the second's phone step (due at 335 s) waits for the gap.
    assert [(at + apart, [o.order_id for o in e.orders]) for at, e in taken] == [
        (300, ["1"]), (300 + PHONE_GAP_S, ["2"])]


def test_reminders_and_cancellations_do_not_escalate(ledger, clock):
    escalations = policy(ledger, clock)
    escalations.arrived([order(ledger, 1, OrderKind.REMINDER), order(ledger, 2, OrderKind.CANCELLED)])
    assert escalations.next_due() is None


def test_the_same_order_arriving_twice_is_counted_from_the_first_time(ledger, clock):
    escalations = policy(ledger, clock)
    event = order(ledger, 1)
    escalations.arrived([event])
    clock.advance(2 * MIN)
    escalations.arrived([event])
    clock.advance(1 * MIN)
    assert [e.step for e in escalations.due()] == [Step.LOUDER]


# -- the connection ------------------------------------------------------------------------------

def test_a_lost_connection_is_one_message_and_its_return_another_with_the_orders_meanwhile(clock):
    watch = ConnectionEscalations(5 * MIN, clock=clock)
    watch.status(True, "orders.example.com")
    clock.advance(10 * MIN)
    watch.status(False)
    clock.advance(5 * MIN - 1)
    assert watch.due() is None
    clock.advance(1)
    lost = watch.due()
    assert (lost.back, lost.down_s, lost.server) == (False, 5 * MIN, "orders.example.com")
    clock.advance(10 * MIN)
    assert watch.due() is None  # once
    watch.status(False)  # said again while still down: nothing new
    assert watch.due() is None
    clock.advance(1 * MIN)
    watch.status(True)
    watch.arrived(2)  # caught up on resume, seconds after
    clock.advance(BACK_SETTLE_S)
    back = watch.due()
    watch.arrived(1)  # after the count was taken: not part of the outage
    assert (back.back, back.down_s, back.orders_meanwhile) == (True, 16 * MIN, 2)
    assert watch.due() is None and watch.next_due() is None

    message = words.connection_back_message(back.down_s, back.orders_meanwhile, back.server, "面馆", "zh_CN")
    assert message.title == "【面馆】orders.example.com 连接已恢复"
    assert message.body == "连接断开了 16 分钟，期间收到 2 个订单。"


def test_a_short_drop_is_never_told(clock):
    watch = ConnectionEscalations(5 * MIN, clock=clock)
    watch.status(True)
    watch.status(False)
    clock.advance(4 * MIN)
    watch.status(True)
    clock.advance(60 * MIN)
    assert watch.due() is None and watch.next_due() is None


def test_a_connection_that_never_worked_is_not_sent_to_the_phone(clock):
    watch = ConnectionEscalations(5 * MIN, clock=clock)
    watch.status(False)
    clock.advance(60 * MIN)
    assert watch.due() is None


def test_outside_opening_hours_a_lost_connection_waits_for_the_opening(clock):
    open_now = [False]
    watch = ConnectionEscalations(5 * MIN, in_hours=lambda: open_now[0], clock=clock)
    watch.status(True, "srv")
    watch.status(False)
    clock.advance(30 * MIN)
    assert watch.due() is None  # closed
    open_now[0] = True
    clock.advance(watch.next_due() - clock.now)
    lost = watch.due()
    assert lost is not None and lost.down_s >= 30 * MIN


def test_the_lost_message_reads_as_the_issue_says():
    message = words.connection_lost_message(6 * MIN, "小程序", "面馆", "en")
    assert message.title == "[面馆] 小程序 connection lost for 6 minutes: orders may be waiting"
    assert words.connection_lost_message(6 * MIN, "小程序", "面馆", "zh_CN").title == \
        "【面馆】小程序 连接已断开 6 分钟：可能有订单在等待"


def test_both_languages_have_every_phrase_with_the_same_placeholders():
    import string

    tables = words.PHRASES
    assert set(tables["zh_CN"]) == set(tables["en"])
    for name, text in tables["zh_CN"].items():
        fields = {f for _l, f, _s, _c in string.Formatter().parse(text) if f}
        assert fields == {f for _l, f, _s, _c in string.Formatter().parse(tables["en"][name]) if f}, name


def test_the_shop_is_named_from_its_own_setting_then_the_ticket_then_the_connection():
    assert words.shop_label({"escalation.shop_name": "老王面馆", "printer.shop_name": "x"}, "zh_CN") == "老王面馆"
    assert words.shop_label({"escalation.shop_name": "", "printer.shop_name": "票上"}, "zh_CN") == "票上"
    assert words.shop_label({"connection.shop": "noodle-bar"}, "en") == "noodle-bar"
    assert words.shop_label({}, "zh_CN") == "订单提醒"
