"""The intake: a reminder that names only its order is shown with what the ledger knows of it."""

from __future__ import annotations

from decimal import Decimal

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets


def test_a_reminder_gets_the_number_amount_and_customer_of_its_order(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    intake = OrderIntake(ledger, MemorySecrets())
    told: list[OrderEvent] = []
    intake.on_order(told.append)
    intake.deliver(OrderEvent(OrderKind.NEW_ORDER, "17", "skytakeout", "shop:8080", order_number="1700000017",
                              amount=Decimal("56.50"), customer="张三"))
    # sky-take-out's "remind" frame: the order id and a sentence, nothing else
    assert intake.deliver(OrderEvent(OrderKind.REMINDER, "17", "skytakeout", "shop:8080", text="顾客催单了"))
    reminder = told[-1]
    assert (reminder.order_number, reminder.amount, reminder.customer, reminder.text) == \
        ("1700000017", Decimal("56.50"), "张三", "顾客催单了")
    stored = ledger.recent(1)[0].event
    assert (stored.kind, stored.amount, stored.customer) == (OrderKind.REMINDER, Decimal("56.50"), "张三")
    # Another server's order 17 is another order: nothing borrowed from it.
    intake.deliver(OrderEvent(OrderKind.REMINDER, "17", "skytakeout", "other:8080", text="催单"))
    assert told[-1].amount is None and told[-1].customer is None
    ledger.close()
