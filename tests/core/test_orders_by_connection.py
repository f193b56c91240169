"""Two branches of one owner on the same server (two connections, same protocol, same server
label: two queues on one broker, two paths on one JSON host) both get an order "1001": they are
two orders everywhere, not only in the ledger's keys. Everything that finds an order by its id
(an ending from elsewhere, a cancellation, details, progress, what still rings, 知道了, a decision
here and its outbox row) finds the order of its own connection only; a file of version 9 keeps
everything and its waiting actions."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal

import pytest
from helpers import ledger_file_of_version

from notifier.core import ledger_schema, order_state
from notifier.core.action_outbox import ACCEPT, ActionOutbox
from notifier.core.connections import UPGRADED_ID, Connection
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.intake import ConnectionHost, OrderIntake
from notifier.core.ledger import Ending, Ledger
from notifier.core.order_actions import worker_target
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.print_queue import PrintQueue, printer_label
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings

SOURCE, SERVER = "amqp", "broker.example:5672"  # both branches' queues are on this broker


def order(kind: OrderKind = OrderKind.NEW_ORDER, **fields) -> OrderEvent:
    return OrderEvent(kind, "1001", SOURCE, SERVER, **fields)


@pytest.fixture
def branches(tmp_path):
    """An intake with the hosts of branch A and branch B, each having stored its order 1001 (A:
    56.00, B: 8.00) and a reminder of it; `ended` / `moved` collect what the observers hear."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    intake = OrderIntake(ledger, MemorySecrets())
    ended, moved = [], []
    intake.on_ended(lambda *args: ended.append(args))
    intake.on_progress(lambda *args: moved.append(args))
    a = ConnectionHost(intake, Connection("a", "东门店"), named=True)
    b = ConnectionHost(intake, Connection("b", "西门店"), named=True)
    assert a.store(order(amount=Decimal("56.00"), customer="张三"))
    assert b.store(order(amount=Decimal("8.00"), customer="李四"))
    a.store(order(OrderKind.REMINDER, text="催单"))
    b.store(order(OrderKind.REMINDER, text="催单"))
    yield ledger, a, b, ended, moved
    ledger.close()


def entries(ledger: Ledger, connection_id: str) -> list:
    return [e for e in ledger.recent() if e.event.connection_id == connection_id]


def ringing(ledger: Ledger, connection_id: str) -> bool:
    return any(not e.acknowledged for e in entries(ledger, connection_id))


def test_the_other_branchs_reminder_a_moment_later_is_its_own(branches):
    ledger, *_ = branches
    reminders = [e.event.connection_id for e in ledger.recent() if e.event.kind is OrderKind.REMINDER]
    assert sorted(reminders) == ["a", "b"], "B's reminder is not A's pressed twice"


def test_a_decision_from_elsewhere_ends_only_its_own_branchs_order(branches):
    ledger, a, b, ended, _moved = branches
    assert ledger.unacknowledged_orders() == 2, "two orders wait, not one"
    assert a.end_order(SOURCE, SERVER, "1001", Ending.ACCEPTED_ELSEWHERE)
    assert ended == [(SOURCE, SERVER, "1001", Ending.ACCEPTED_ELSEWHERE, None, "a")]
    assert not ringing(ledger, "a")
    assert ringing(ledger, "b"), "B's 1001 keeps ringing"
    assert {e.ended_how for e in entries(ledger, "b")} == {None}
    assert (a.ringing(SOURCE, SERVER), b.ringing(SOURCE, SERVER)) == ([], ["1001"])
    assert ledger.unacknowledged_orders() == 1


def test_a_cancellation_stops_only_its_own_branchs_order(branches):
    ledger, a, _b, ended, _moved = branches
    assert a.store(order(OrderKind.CANCELLED, event_id="c-1", text="不想要了"))
    assert not ringing(ledger, "a")
    assert ringing(ledger, "b")
    assert [args[3:] for args in ended] == [(Ending.CANCELLED, "不想要了", "a")]


def test_details_and_progress_land_on_their_own_branchs_order(branches):
    ledger, a, b, _ended, moved = branches
    b.details_arrived(order(details=OrderDetails.of([OrderItem.of("豆浆", 2)])))
    new_orders = {e.event.connection_id: e for e in ledger.recent() if e.event.kind is OrderKind.NEW_ORDER}
    assert [i.name for i in new_orders["b"].event.details.items] == ["豆浆"]
    assert not new_orders["a"].event.details
    a.end_order(SOURCE, SERVER, "1001", Ending.ACCEPTED_ELSEWHERE)
    b.end_order(SOURCE, SERVER, "1001", Ending.ACCEPTED_ELSEWHERE)
    assert a.progressed(SOURCE, SERVER, "1001", order_state.DELIVERING)
    assert moved == [(SOURCE, SERVER, "1001", order_state.DELIVERING, "a")]
    assert (a.in_progress(SOURCE, SERVER), b.in_progress(SOURCE, SERVER)) == \
        ([("1001", "delivering")], [("1001", "accepted")])


def test_stopping_one_branchs_popup_here_leaves_the_other_ringing(branches):
    ledger, _a, _b, _ended, _moved = branches
    a_order = next(e for e in entries(ledger, "a") if e.event.kind is OrderKind.NEW_ORDER)
    ledger.acknowledge([a_order.id])  # 知道了 on A's popup
    assert not ringing(ledger, "a")
    assert ringing(ledger, "b")


def test_every_lookup_by_order_names_the_connection(branches):
    """The ledger's own API, method by method: the same order id, two connections' answers."""
    ledger, *_ = branches
    a_order, b_order = (ledger.order(SOURCE, SERVER, "1001", connection_id=c) for c in ("a", "b"))
    assert (a_order.amount, b_order.amount) == (Decimal("56.00"), Decimal("8.00"))
    assert ledger.order(SOURCE, SERVER, "1001", connection_id="") is None, "no unscoped match"
    keys = {c: ledger.order_keys(SOURCE, SERVER, "1001", connection_id=c) for c in ("a", "b")}
    assert keys["a"][0] == a_order.key and keys["b"][0] == b_order.key
    assert not set(keys["a"]) & set(keys["b"]) and len(keys["a"]) == len(keys["b"]) == 2
    assert ledger.set_details(SOURCE, SERVER, "1001", OrderDetails.of([OrderItem.of("油条", 1)]),
                              connection_id="a") == 1
    assert ledger.end_order(SOURCE, SERVER, "1001", Ending.ACCEPTED_ELSEWHERE, connection_id="b") == 2
    assert ledger.ringing_order_ids(SOURCE, SERVER, connection_id="a") == ["1001"]
    assert ledger.ringing_order_ids(SOURCE, SERVER, connection_id="b") == []
    assert ledger.set_progress(SOURCE, SERVER, "1001", order_state.DELIVERING, connection_id="b")
    assert {e.event.connection_id: e.progress for e in ledger.recent()} == {"a": None, "b": "delivering"}
    assert ledger.in_progress(SOURCE, SERVER, 0, connection_id="b") == [("1001", "delivering")]
    assert ledger.in_progress(SOURCE, SERVER, 0, connection_id="a") == []


def test_a_decision_here_queues_and_ends_its_own_branchs_order_and_survives_a_restart(branches):
    ledger, *_ = branches
    outbox = ActionOutbox(ledger.path)
    try:
        first = outbox.decide("a|amqp:broker", SOURCE, SERVER, "1001", ACCEPT, connection_id="a")
        second = outbox.decide("b|amqp:broker", SOURCE, SERVER, "1001", ACCEPT, connection_id="b")
        assert first.queued and second.queued, "B's accept is not A's double click"
        assert first.key != second.key
    finally:
        outbox.close()
    again = ActionOutbox(ledger.path)  # the next start
    try:
        action = again.next_action("b|amqp:broker")
        assert (action.order_id, action.connection_id, action.action) == ("1001", "b", ACCEPT)
        assert again.unsent_orders() == {(SOURCE, SERVER, "1001", "a"), (SOURCE, SERVER, "1001", "b")}
        again.mark_sending(action.id)
        again.mark_refused(action, "该订单已被取消", Ending.CANCELLED)
    finally:
        again.close()
    endings = {e.event.connection_id: e.ended_how for e in ledger.recent() if e.event.kind is OrderKind.NEW_ORDER}
    assert endings == {"a": Ending.ACCEPTED_HERE, "b": Ending.CANCELLED}


def test_a_cancellation_voids_the_ticket_of_its_own_branchs_order_only(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    queue = PrintQueue(ledger.path)
    try:
        printer = Settings({"printer.print_on": "new_order", "printer.address": "10.0.0.5"})
        queue.configure(printer)
        for branch in ("a", "b"):
            ledger.record(order(connection_id=branch))
            job = queue.next_job(printer_label(printer))
            queue.mark_sending(job.id)
            queue.mark_done(job.id)
        ledger.record(order(OrderKind.CANCELLED, event_id="c-1", connection_id="a"))
        with closing(sqlite3.connect(ledger.path)) as db:
            voided = db.execute("SELECT event_key FROM print_jobs WHERE kind='void'").fetchall()
        assert voided == [(order(connection_id="a").key,)]
    finally:
        queue.close()
        ledger.close()


def test_a_file_of_version_9_keeps_its_orders_and_its_waiting_action(tmp_path):
    before = OrderEvent(OrderKind.NEW_ORDER, "77", "notifier", "host/shop", amount=Decimal("9.50"))
    path = ledger_file_of_version(
        tmp_path / "ledger.sqlite3", 9,
        "INSERT INTO events(key, kind, order_id, amount, currency, occurred_at, received_at, source, "
        "server, raw, told_at, ended_how, acknowledged_at) VALUES ("
        f"'{before.key}', 'new_order', '77', '9.50', 'CNY', '2026-12-05T10:00:00+00:00', 1.0, 'notifier', "
        "'host/shop', '', 1.0, 'accepted_here', 1.0)",
        "INSERT INTO action_outbox(key, target, source, server, order_id, action, created_at) "
        "VALUES ('notifier|host/shop|77|accept|1', 'notifier:host/shop', 'notifier', 'host/shop', "
        "'77', 'accept', 1.0)",
        # A second connection's order, accepted offline just before the upgrade.
        "INSERT INTO events(key, kind, order_id, currency, occurred_at, received_at, source, server, raw, "
        "told_at, ended_how, acknowledged_at, connection, connection_id) VALUES ('c2|notifier|host/tea|"
        "new_order|88', 'new_order', '88', 'CNY', '2026-12-05T10:00:00+00:00', 1.0, 'notifier', 'host/tea', "
        "'', 1.0, 'accepted_here', 1.0, '茶馆', 'c2')",
        "INSERT INTO action_outbox(key, target, source, server, order_id, action, created_at) "
        "VALUES ('notifier|host/tea|88|accept|1', 'notifier:host/tea', 'notifier', 'host/tea', '88', "
        "'accept', 1.0)")
    ledger = Ledger(path)
    outbox = ActionOutbox(path)
    try:
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (ledger_schema.SCHEMA_VERSION,)
            trigger = db.execute("SELECT sql FROM sqlite_master WHERE name='void_on_cancel_event'").fetchone()
            assert "o.connection_id = NEW.connection_id" in trigger[0], "a cancellation voids its own order's ticket"
        kept = ledger.find(before.key)
        assert (kept.event.amount, kept.ended_how) == (Decimal("9.50"), Ending.ACCEPTED_HERE)
        # The upgraded connection ("" scope) still finds its order and sends its waiting accept.
        assert Connection(UPGRADED_ID, "shop").scope == ""
        assert ledger.order("notifier", "host/shop", "77", connection_id="").key == before.key
        action = outbox.next_action(worker_target("notifier", "host/shop", ""))
        assert (action.key, action.connection_id, action.number) == ("notifier|host/shop|77|accept|1", "", "77")
        # The second connection's worker (its target led by its id) finds its waiting accept.
        action = outbox.next_action(worker_target("notifier", "host/tea", "c2"))
        assert (action.key, action.connection_id, action.order_id) == ("notifier|host/tea|88|accept|1", "c2", "88")
    finally:
        outbox.close()
        ledger.close()
