"""Crash test: `notifier listen` printing kitchen tickets is killed (SIGKILL) ten times while 200
orders arrive; after the last restart every order has its ticket, once.

Real parts: the listener process, the sky-take-out double (orders missed while the listener is
dead are pulled from its admin API after each restart), a real keyring for the admin password,
and the recording ESC/POS printer on 127.0.0.1.

A printer cannot tell us it already printed something, so one window stays: a kill after the
printer read a ticket and before the queue marked it done. Such a ticket is printed again on
restart, marked as a reprint (in doubt); the test allows only that kind of second ticket and
prints how many there were (docs/printing.md).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.keyring_session import KeyringSession
from tests.fakes.listener_process import ListenerProcess, skytakeout_args
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(150)]

ORDERS = 200
KILLS = 10
BUDGET_S = 90.0
REPRINT_MARK = "(REPRINT)"


@pytest.fixture
def double():
    with SkyTakeOutDouble() as server:
        yield server


@pytest.fixture
def keyring_session(tmp_path: Path):
    session = KeyringSession(tmp_path / "keyring")
    yield session
    session.close()


def pending_jobs(home: Path) -> int:
    """Tickets recorded but not confirmed by the printer (what a kill leaves behind)."""
    path = home / "data" / "ledger.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM print_jobs WHERE state != 'done'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def number_of(ticket) -> str:
    return next(line for line in ticket.lines if line.startswith("#"))[1:]


# Ten listener starts and a 20 s bound for each run's first ticket: beside the heaviest tests of
# the session lane (CI, load 5-8) that bound was missed twice while it held alone and under a
# CPU-only load of 6; it runs with nothing beside it.
@pytest.mark.measures_time
def test_exactly_one_ticket_per_order_over_200_orders_and_10_kills(double, keyring_session, tmp_path):
    started = time.monotonic()
    rng = random.Random(15)
    printer = EscposPrinterServer().start()
    keyring_session.set_secret("skytakeout_admin_password", double.password)
    home = tmp_path / "home"
    args = skytakeout_args(double) + [
        "--set", "printer.print_on=new_order", "--set", f"printer.address={printer.address}",
        "--set", "printer.timeout=2", "--set", "general.language=en"]
    env = dict(keyring_session.env, LANG="C.UTF-8")
    paid: list[dict] = []
    pending_at_kills: list[int] = []
    try:
        per_run = ORDERS // KILLS
        for run in range(KILLS):
            with ListenerProcess(args, home=home, env=env) as listener:
                listener.wait_state("connected")
                double.wait_for_clients()
                printed_before = len(printer.tickets())
                kill_after = rng.randrange(1, per_run)  # somewhere in the middle of the burst
                for index in range(per_run):
                    paid.append(double.pay())
                    if index == kill_after:
                        break
                    time.sleep(rng.uniform(0.0, 0.01))
                if run % 2:
                    # Every other run dies while the printer is busy with the backlog: tickets
                    # recorded, one perhaps half sent or sent and not yet confirmed.
                    try:
                        wait_until(lambda before=printed_before: len(printer.tickets()) > before, 20)
                    except AssertionError as exc:  # say what the listener was doing
                        raise AssertionError(f"no ticket in run {run}; listener's log: "
                                             f"{listener.stderr()[-3000:]}") from exc
                    time.sleep(rng.uniform(0.0, 0.005))
                else:
                    time.sleep(rng.uniform(0.0, 0.05))
                listener.kill9()
                pending_at_kills.append(pending_jobs(home))
            wait_until(lambda: double.client_count == 0, 10)  # the dead client is gone
        while len(paid) < ORDERS:  # the rest, to a listener that is left alone
            paid.append(double.pay())
        expected = {str(order["number"]) for order in paid}
        with ListenerProcess(args, home=home, env=env) as last:
            last.wait_state("connected")

            def all_printed() -> bool:
                return {number_of(t) for t in printer.tickets()} >= expected

            wait_until(all_printed, max(10.0, BUDGET_S - (time.monotonic() - started)))
            ledger = home / "data" / "ledger.sqlite3"
            with sqlite3.connect(ledger) as db:
                wait_until(lambda: db.execute("SELECT COUNT(*) FROM print_jobs WHERE state != 'done'")
                           .fetchone()[0] == 0, 10)
            assert last.terminate() == 0
        tickets = printer.tickets()
        plain = Counter(number_of(t) for t in tickets if REPRINT_MARK not in t.text)
        in_doubt = [number_of(t) for t in tickets if REPRINT_MARK in t.text]
        # Every order printed; never two unmarked tickets for one order. A kill between "sending"
        # and the printer's answer leaves the job in doubt: it is sent again marked (补打/REPRINT),
        # and when the first try never reached the printer, that marked ticket is the only one.
        assert set(plain) | set(in_doubt) == expected, "an order was never printed"
        assert [n for n, count in plain.items() if count > 1] == [], "an order was printed twice"
        assert set(in_doubt) <= expected
        with sqlite3.connect(ledger) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("SELECT COUNT(*) FROM print_jobs").fetchone()[0] == ORDERS
        took = time.monotonic() - started
        print(f"{len(tickets)} tickets for {ORDERS} orders over {KILLS} kills in {took:.1f} s; "
              f"jobs recorded but not printed at each kill: {pending_at_kills}; "
              f"in-doubt reprints: {len(in_doubt)}; torn connections: {printer.torn()}")
        # The kills did land between "job recorded" and "printer took it".
        assert sum(pending_at_kills) > 0
        assert took < BUDGET_S + 30
    finally:
        printer.stop()
