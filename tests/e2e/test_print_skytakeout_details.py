"""A sky-take-out order is told at once and its details (amount, dishes) follow from the admin API:
its kitchen ticket waits for them (up to 2 s), so the kitchen gets the dishes and the amount.

Real parts: `notifier listen` as a process, the sky-take-out double with a slow details endpoint,
a real keyring for the admin password, and the recording ESC/POS printer on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.keyring_session import KeyringSession
from tests.fakes.listener_process import ListenerProcess, skytakeout_args
from tests.fakes.skytakeout_server import SkyTakeOutDouble

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def keyring_session(tmp_path: Path):
    session = KeyringSession(tmp_path / "keyring")
    yield session
    session.close()


def printing_listener(double, printer, keyring_session, tmp_path: Path) -> ListenerProcess:
    """`notifier listen` on the double with its admin account, printing every new order."""
    keyring_session.set_secret("skytakeout_admin_password", double.password)
    args = skytakeout_args(double) + [
        "--set", "printer.print_on=new_order", "--set", f"printer.address={printer.address}",
        "--set", "general.language=zh_CN"]
    return ListenerProcess(args, home=tmp_path / "home", env=dict(keyring_session.env))


@pytest.mark.parametrize("delay", [0.0, 0.8])
def test_a_sky_take_out_ticket_carries_the_dishes_and_amount_its_details_bring(keyring_session, tmp_path, delay):
    printer = EscposPrinterServer().start()
    try:
        with SkyTakeOutDouble() as double:
            double.details_delay = delay
            with printing_listener(double, printer, keyring_session, tmp_path) as listener:
                listener.wait_state("connected")
                double.wait_for_clients()
                paid = double.pay()
                (ticket,) = printer.wait_for_tickets(1, timeout=20)
                assert listener.terminate() == 0
    finally:
        printer.stop()
    assert "宫保鸡丁" in ticket.text, ticket.text
    assert str(paid["amount"]).split(".")[0] in ticket.text.replace(",", ""), ticket.text


def test_a_200_dish_order_prints_every_dish_and_a_bigger_one_says_how_many_more(keyring_session, tmp_path):
    """Found: a 200-item order printed 50 lines with no "more" line while the total said 999.99."""
    printer = EscposPrinterServer().start()
    try:
        with SkyTakeOutDouble() as double:
            with printing_listener(double, printer, keyring_session, tmp_path) as listener:
                listener.wait_state("connected")
                double.wait_for_clients()
                for count in (200, 230):
                    double.pay(amount="999.99", dishes=[
                        {"name": f"菜{n:03d}", "number": 1, "amount": 4.99, "dishFlavor": "微辣"}
                        for n in range(count)])
                tickets = printer.wait_for_tickets(2, timeout=20)
                assert listener.terminate() == 0
    finally:
        printer.stop()
    for ticket, more in zip(tickets, (None, 30), strict=True):
        dishes = [line.split()[0] for line in ticket.lines if line.startswith("菜")]
        assert dishes == [f"菜{n:03d}" for n in range(200)]
        assert ticket.lines.count("(微辣)") == 200
        assert ("……另有 30 个菜品（请看屏幕）" in ticket.lines) is (more == 30)
        assert "金额：999.99 元" in ticket.lines
