"""An idle shop PC runs no printer or decision thread: the print worker's and the action
worker's threads end when nothing waits and start again the moment something is queued — a
ticket still prints at once, a click is still sent at once, and what the last run left waiting
goes out at start (issue 23: fewer threads).

Real parts: the recording ESC/POS printer and the sky-take-out double on 127.0.0.1, the ledger
file with its print queue and action outbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from notifier.core.connection import ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_actions import OrderActions
from notifier.core.print_queue import PrintQueue
from notifier.core.print_worker import PrintWorker, network_driver
from notifier.core.settings import Settings
from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.running_source import sky_settings
from tests.fakes.skytakeout_server import ACCEPTED
from tests.fakes.util import wait_until


def threads_named(name: str) -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == name and t.is_alive()}


def order(n: int) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop", order_number=f"A{n:04d}",
                      amount=Decimal("12.50"), customer="张三")


@pytest.fixture
def printer() -> Iterator[EscposPrinterServer]:
    server = EscposPrinterServer().start()
    yield server
    server.stop()


@pytest.fixture
def kitchen(tmp_path: Path, printer):
    """The ledger and its print queue, as the app opens them; `worker()` makes the print worker."""
    path = tmp_path / "ledger.sqlite3"
    settings = Settings({"printer.print_on": "new_order", "printer.address": printer.address,
                         "printer.timeout": 1})
    ledger = Ledger(path)
    queue = PrintQueue(path)
    queue.configure(settings)
    workers: list[PrintWorker] = []

    def worker() -> PrintWorker:
        made = PrintWorker(settings, queue, network_driver(settings))
        made.idle_close_s = 0.1  # the printer's connection closes this soon after the last ticket
        workers.append(made)
        return made

    yield ledger, worker
    for made in workers:
        made.stop()
    queue.close()
    ledger.close()


def test_an_idle_print_worker_has_no_thread_and_a_queued_ticket_starts_one_and_prints(kitchen, printer):
    ledger, make_worker = kitchen
    before = threads_named("print-worker")
    worker = make_worker()
    worker.start()
    wait_until(lambda: not threads_named("print-worker") - before, 5,
               message="the idle print worker's thread ends")
    assert worker.status.state is ConnState.CONNECTED, "idle with nothing owed: the tray shows no problem"

    ledger.record(order(1))
    worker.wake()  # what the app does when an order was stored
    (ticket,) = printer.wait_for_tickets(1)
    assert "#A0001" in ticket.lines
    wait_until(lambda: not threads_named("print-worker") - before, 5,
               message="the thread ends again once the ticket is printed")

    ledger.record(order(2))
    worker.wake()
    assert "#A0002" in printer.wait_for_tickets(2)[1].lines, "and starts again for the next one"


def test_tickets_left_waiting_by_the_last_run_print_at_start(kitchen, printer):
    ledger, make_worker = kitchen
    ledger.record(order(3))  # stored, then the app stopped before the ticket went out
    make_worker().start()
    (ticket,) = printer.wait_for_tickets(1)
    assert "#A0003" in ticket.lines


def test_an_idle_action_worker_has_no_thread_and_a_click_starts_one_and_is_sent(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    record = double.pay()
    wait_until(lambda: str(record["id"]) in running.order_ids(), 10)
    event = next(e for e in running.orders if e.order_id == str(record["id"]))

    before = threads_named("action-worker")
    actions = OrderActions(ledger.path, running.source)
    try:
        wait_until(lambda: not threads_named("action-worker") - before, 5,
                   message="the idle action worker's thread ends")
        actions.accept(event)
        wait_until(lambda: double.status(record["id"]) == ACCEPTED, 10,
                   message="the click reaches the back end")
        wait_until(lambda: not threads_named("action-worker") - before, 5,
                   message="the thread ends again once the outbox is empty")
    finally:
        actions.stop()
