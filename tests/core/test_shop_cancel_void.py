"""The shop's own 取消 of an accepted order voids its kitchen ticket, as the customer's
cancellation does, but only once the back end has confirmed it: until then it is a wish that a
refusal undoes (the order goes back to where it was, its ticket still good)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from helpers import ledger_file_of_version

from notifier.core import ledger_schema
from notifier.core.action_outbox import ACCEPT, ActionOutbox
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_state import CANCEL, CANCELLED
from notifier.core.print_queue import PrintQueue, printer_label
from notifier.core.settings import Settings

SOURCE, SERVER, TARGET = "skytakeout", "shop.example:8080", "skytakeout:shop.example:8080"


@pytest.fixture
def kitchen(tmp_path):
    """An accepted order whose ticket was printed, and the outbox its actions go through."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    queue = PrintQueue(ledger.path)
    outbox = ActionOutbox(ledger.path)
    printer = Settings({"printer.print_on": "new_order", "printer.address": "10.0.0.5"})
    queue.configure(printer)
    ledger.record(OrderEvent(OrderKind.NEW_ORDER, "1001", SOURCE, SERVER, order_number="88"))
    job = queue.next_job(printer_label(printer))
    queue.mark_sending(job.id)
    queue.mark_done(job.id)
    accept = outbox.decide(TARGET, SOURCE, SERVER, "1001", ACCEPT, connection_id="")
    action = outbox.next_action(TARGET)
    outbox.mark_sending(action.id)
    outbox.mark_done(action.id)
    assert accept.queued
    yield ledger, outbox, printer_label(printer)
    outbox.close()
    queue.close()
    ledger.close()


def voids(ledger: Ledger) -> list[str]:
    with closing(sqlite3.connect(ledger.path)) as db:
        return [row[0] for row in db.execute("SELECT printer FROM print_jobs WHERE kind='void'")]


def test_the_shops_own_cancel_voids_the_ticket_once_the_back_end_confirms_it(kitchen):
    ledger, outbox, printer = kitchen
    assert outbox.decide(TARGET, SOURCE, SERVER, "1001", CANCEL, "顾客电话取消", connection_id="").queued
    action = outbox.next_action(TARGET)
    outbox.mark_sending(action.id)
    assert voids(ledger) == [], "only a wish until the back end answers"
    outbox.mark_done(action.id)
    assert voids(ledger) == [printer]


def test_a_refused_cancel_voids_nothing(kitchen):
    ledger, outbox, _printer = kitchen
    outbox.decide(TARGET, SOURCE, SERVER, "1001", CANCEL, connection_id="")
    action = outbox.next_action(TARGET)
    outbox.mark_sending(action.id)
    outbox.mark_refused(action, "订单已完成，不能取消")
    assert voids(ledger) == []


def test_a_history_file_of_version_10_is_upgraded_with_its_orders(tmp_path):
    path = ledger_file_of_version(
        tmp_path / "ledger.sqlite3", 10,
        "INSERT INTO events(key, kind, order_id, currency, occurred_at, received_at, source, server, raw, "
        "told_at, ended_how, acknowledged_at) VALUES ('skytakeout|shop|new_order|7', 'new_order', '7', 'CNY', "
        "'2026-12-05T10:00:00+00:00', 1.0, 'skytakeout', 'shop', '', 1.0, 'accepted_here', 1.0)")
    ledger = Ledger(path)
    try:
        assert [e.event.order_id for e in ledger.recent()] == ["7"]
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (ledger_schema.SCHEMA_VERSION,)
            assert db.execute("SELECT 1 FROM sqlite_master WHERE name='void_on_shop_cancel'").fetchone()
    finally:
        ledger.close()


def test_a_cancel_made_on_another_pc_voids_this_pcs_ticket_when_it_learns_it(kitchen):
    ledger, _outbox, printer = kitchen
    assert ledger.set_progress(SOURCE, SERVER, "1001", CANCELLED, "顾客电话取消", connection_id="")
    assert voids(ledger) == [printer]
