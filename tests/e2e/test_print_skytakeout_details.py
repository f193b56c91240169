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


@pytest.mark.parametrize("delay", [0.0, 0.8])
def test_a_sky_take_out_ticket_carries_the_dishes_and_amount_its_details_bring(keyring_session, tmp_path, delay):
    printer = EscposPrinterServer().start()
    try:
        with SkyTakeOutDouble() as double:
            double.details_delay = delay
            keyring_session.set_secret("skytakeout_admin_password", double.password)
            args = skytakeout_args(double) + [
                "--set", "printer.print_on=new_order", "--set", f"printer.address={printer.address}",
                "--set", "general.language=zh_CN"]
            with ListenerProcess(args, home=tmp_path / "home", env=dict(keyring_session.env)) as listener:
                listener.wait_state("connected")
                double.wait_for_clients()
                paid = double.pay()
                (ticket,) = printer.wait_for_tickets(1, timeout=20)
                assert listener.terminate() == 0
    finally:
        printer.stop()
    assert "宫保鸡丁" in ticket.text, ticket.text
    assert str(paid["amount"]).split(".")[0] in ticket.text.replace(",", ""), ticket.text
