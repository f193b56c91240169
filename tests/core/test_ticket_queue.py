"""The print queue in the ledger's file: a job per copy in the same transaction as the order,
never for a reminder, never twice for the same order, and in doubt after a crash mid-send."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers import print_jobs

from notifier.core.action_outbox import ACCEPT, REJECT, ActionOutbox
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending, Ledger
from notifier.core.print_queue import PrintQueue, printer_label
from notifier.core.settings import Settings

SETTINGS = Settings({"printer.print_on": "new_order", "printer.address": "10.0.0.5:9100",
                     "printer.copies": 2})
PRINTER = printer_label(SETTINGS)


def new_order(n: int) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop", order_number=str(1000 + n))


@pytest.fixture
def files(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    queue = PrintQueue(ledger.path)
    queue.configure(SETTINGS)
    yield ledger, queue
    queue.close()
    ledger.close()


def test_storing_an_order_queues_one_job_per_copy_once(files):
    ledger, queue = files
    assert ledger.record(new_order(1))
    assert not ledger.record(new_order(1))  # the same order again: no new job
    assert [key for key, _state, _n in print_jobs(ledger.path)] == [
        "json|shop|new_order|1|order|1", "json|shop|new_order|1|order|2"]
    job = queue.next_job(PRINTER)
    assert (job.copy, job.copies, job.entry.event.order_number) == (1, 2, "1001")


def test_reminders_and_orders_stored_while_printing_is_off_are_not_queued(files):
    ledger, queue = files
    ledger.record(OrderEvent(OrderKind.REMINDER, "1", "json", "shop"))
    queue.configure(SETTINGS.updated({"printer.print_on": "off"}))
    ledger.record(new_order(2))
    queue.configure(SETTINGS.updated({"printer.print_on": "accept"}))  # printed when accepted
    ledger.record(new_order(3))
    assert print_jobs(ledger.path) == []


def test_printing_on_accept_queues_the_ticket_with_the_acceptance_here_only(files):
    ledger, queue = files
    queue.configure(SETTINGS.updated({"printer.print_on": "accept"}))
    for n in (1, 2, 3):
        ledger.record(new_order(n))
    ledger.record(OrderEvent(OrderKind.REMINDER, "1", "json", "shop"))
    outbox = ActionOutbox(ledger.path)
    try:
        outbox.decide("json|shop", "json", "shop", "1", ACCEPT, connection_id="")
        outbox.decide("json|shop", "json", "shop", "1", ACCEPT, connection_id="")  # a double click
        outbox.decide("json|shop", "json", "shop", "2", REJECT, "sold out", connection_id="")
    finally:
        outbox.close()
    ledger.end_order("json", "shop", "3", Ending.ACCEPTED_ELSEWHERE, connection_id="")  # that PC prints it
    assert [key for key, _state, _n in print_jobs(ledger.path)] == [
        "json|shop|new_order|1|order|1", "json|shop|new_order|1|order|2"]


def test_a_job_is_written_in_the_orders_own_transaction(files):
    ledger, queue = files
    # A transaction that stores the order and then fails leaves neither the order nor its job.
    db = sqlite3.connect(ledger.path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO events(key, kind, order_id, currency, occurred_at, received_at, source, "
               "server, raw) VALUES ('k', 'new_order', '5', 'CNY', '2026-01-01T00:00:00+00:00', 1, "
               "'json', 'shop', '')")
    assert db.execute("SELECT COUNT(*) FROM print_jobs").fetchone()[0] == 2
    db.execute("ROLLBACK")
    db.close()
    assert print_jobs(ledger.path) == [] and ledger.count() == 0


def test_a_job_being_sent_when_the_app_died_is_sent_again_marked_as_in_doubt(files, tmp_path):
    ledger, queue = files
    ledger.record(new_order(1))
    job = queue.next_job(PRINTER)
    queue.mark_sending(job.id)
    queue.close()  # the app dies here: the printer may or may not have the ticket
    reopened = PrintQueue(ledger.path)
    try:
        again = reopened.next_job(PRINTER)
        assert again.id == job.id and again.in_doubt and again.reprint
        reopened.mark_done(again.id)
        assert reopened.next_job(PRINTER).copy == 2
        assert reopened.waiting() == 1
    finally:
        reopened.close()


def test_waiting_jobs_follow_the_printer_the_shop_switches_to(files):
    ledger, queue = files
    ledger.record(new_order(1))
    other = SETTINGS.updated({"printer.address": "10.0.0.6"})
    queue.configure(other)
    assert queue.next_job(PRINTER) is None
    assert queue.next_job(printer_label(other)).entry.event.order_id == "1"


def test_reprints_are_new_jobs_every_time(files):
    ledger, queue = files
    ledger.record(new_order(1))
    entry_id = ledger.recent(1)[0].id
    assert queue.enqueue_reprint(entry_id, SETTINGS) == 1
    assert queue.enqueue_reprint(entry_id, SETTINGS) == 1
    kinds = [key.split("|")[4] for key, _s, _n in print_jobs(ledger.path)]
    assert kinds == ["order", "order", "reprint", "reprint"]
    assert queue.enqueue_reprint(999, SETTINGS) == 0
