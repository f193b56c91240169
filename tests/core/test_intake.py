"""The intake: a reminder that names only its order is shown with what the ledger knows of it, and
an order a crash left stored but untold is told at the next start."""

from __future__ import annotations

from decimal import Decimal

from notifier.core import i18n
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.intake import OrderIntake, noted_late
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets


def test_a_reminder_gets_the_number_amount_and_customer_of_its_order(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    intake = OrderIntake(ledger, MemorySecrets())
    told: list[OrderEvent] = []
    intake.on_order(told.append)
    intake.store(OrderEvent(OrderKind.NEW_ORDER, "17", "skytakeout", "shop:8080", order_number="1700000017",
                              amount=Decimal("56.50"), customer="张三"))
    # sky-take-out's "remind" frame: the order id and a sentence, nothing else
    assert intake.store(OrderEvent(OrderKind.REMINDER, "17", "skytakeout", "shop:8080", text="顾客催单了"))
    reminder = told[-1]
    assert (reminder.order_number, reminder.amount, reminder.customer, reminder.text) == \
        ("1700000017", Decimal("56.50"), "张三", "顾客催单了")
    stored = ledger.recent(1)[0].event
    assert (stored.kind, stored.amount, stored.customer) == (OrderKind.REMINDER, Decimal("56.50"), "张三")
    # Another server's order 17 is another order: nothing borrowed from it.
    intake.store(OrderEvent(OrderKind.REMINDER, "17", "skytakeout", "other:8080", text="催单"))
    assert told[-1].amount is None and told[-1].customer is None
    ledger.close()


def test_orders_stored_but_never_told_are_told_once_at_start_noted_as_late(tmp_path):
    """A crash between the ledger write and the telling: the next start tells them, first."""
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    crashed = OrderIntake(ledger, MemorySecrets())
    crashed.on_order(lambda event: None)  # killed before it could print or show anything
    crashed.store(OrderEvent(OrderKind.NEW_ORDER, "17", "notifier", "shop", text="牛肉面"))
    crashed.store(OrderEvent(OrderKind.NEW_ORDER, "18", "notifier", "shop"))
    ledger.close()

    previous = i18n.language()
    i18n.set_language("en")
    try:
        ledger = Ledger(path)
        intake = OrderIntake(ledger, MemorySecrets())
        told: list[OrderEvent] = []
        intake.on_order(told.append)
        assert intake.tell_untold() == 2
        assert [(e.order_id, e.text) for e in told] == [
            ("17", "Received while the app was stopping · 牛肉面"),
            ("18", "Received while the app was stopping")]
        assert told[0].key == OrderEvent(OrderKind.NEW_ORDER, "17", "notifier", "shop").key
        ledger.mark_told(e.key for e in told)
        assert intake.tell_untold() == 0, "told once, not at every start"
        ledger.close()
    finally:
        i18n.set_language(previous)


def test_the_late_note_is_in_the_owners_language():
    event = OrderEvent(OrderKind.NEW_ORDER, "17", "notifier", "shop", text="订单号：17")
    previous = i18n.language()
    i18n.set_language("zh_CN")
    try:
        assert noted_late(event).text == "在程序退出期间收到 · 订单号：17"
    finally:
        i18n.set_language(previous)


def two_orders(tmp_path) -> tuple[Ledger, OrderIntake, list[tuple]]:
    """Orders 1 and 2 of the reference server, stored and told; the list collects what the
    ended observers hear."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    intake = OrderIntake(ledger, MemorySecrets())
    ended: list[tuple] = []
    intake.on_ended(lambda *args: ended.append(args))
    for order_id in ("1", "2"):
        intake.store(OrderEvent(OrderKind.NEW_ORDER, order_id, "notifier", "shop", order_number=f"A-{order_id}"))
    return ledger, intake, ended


def test_a_cancellation_event_ends_its_order_and_is_news_even_after_acceptance(tmp_path):
    """A "cancelled" event from the back end (the reference server, a json or amqp mapping) ends
    the order like a decision from elsewhere: it stops ringing, and the ended observers hear it
    once, also when the order had been accepted (a kitchen may already be cooking it)."""
    from notifier.core.ledger import Ending

    ledger, intake, ended = two_orders(tmp_path)
    ledger.end_order("notifier", "shop", "2", Ending.ACCEPTED_HERE, connection_id="")
    for order_id in ("1", "2"):
        intake.store(OrderEvent(OrderKind.CANCELLED, order_id, "notifier", "shop", text="不想要了"))
    assert ended == [("notifier", "shop", "1", Ending.CANCELLED, "不想要了", ""),
                     ("notifier", "shop", "2", Ending.CANCELLED, "不想要了", "")]
    assert ledger.unacknowledged_orders() == 0
    assert {e.event.order_id: e.ended_how for e in ledger.recent() if e.event.kind is OrderKind.NEW_ORDER} == \
        {"1": Ending.CANCELLED, "2": Ending.CANCELLED}
    ledger.close()


def test_a_cancellation_of_an_order_the_shop_rejected_is_no_news(tmp_path):
    """A platform often cancels an order right after the shop rejected it (the customer gets a
    refund): that is the rejection's echo, not a customer's change of mind. Before, every PC
    showed "order 4321 was cancelled by the customer" and said it aloud (its history kept
    "rejected"); seen with two PCs on the reference server (tests/e2e/test_two_pcs_two_shops)."""
    from notifier.core.ledger import Ending

    ledger, intake, ended = two_orders(tmp_path)
    ledger.end_order("notifier", "shop", "1", Ending.REJECTED_HERE, connection_id="")
    ledger.end_order("notifier", "shop", "2", Ending.REJECTED_ELSEWHERE, connection_id="")
    for order_id in ("1", "2"):
        assert intake.store(OrderEvent(OrderKind.CANCELLED, order_id, "notifier", "shop", text="退款"))
    assert ended == []
    assert ledger.unacknowledged_orders() == 0, "the cancellation itself does not ring"
    assert {e.event.order_id: e.ended_how for e in ledger.recent() if e.event.kind is OrderKind.NEW_ORDER} == \
        {"1": Ending.REJECTED_HERE, "2": Ending.REJECTED_ELSEWHERE}
    ledger.close()


def test_an_order_is_told_before_the_ledger_starts_its_checkpoint_thread(tmp_path):
    """After a quiet spell the ledger's checkpoint thread has ended; the next order's commit
    needs it again. Starting a thread (and handing it the interpreter) cost the popup of a shop
    whose orders come minutes apart: the observers are told first, then the thread starts, and
    the order still reaches the database file."""
    import threading

    from helpers import orders_in_main_file, wait_until

    from notifier.core.ledger import CHECKPOINT_IDLE_S

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    intake = OrderIntake(ledger, MemorySecrets())
    threads_when_told: list[set[str]] = []
    intake.on_order(lambda event: threads_when_told.append({t.name for t in threading.enumerate()}))
    assert intake.store(OrderEvent(OrderKind.NEW_ORDER, "17", "notifier", "shop"))
    assert "ledger-checkpoint" not in threads_when_told[0]

    wait_until(lambda: orders_in_main_file(path, tmp_path) == 1, CHECKPOINT_IDLE_S + 5,
               message="the order checkpointed into the main file in the background")
    ledger.close()
