"""Kitchen tickets on a network receipt printer (ESC/POS over TCP), end to end.

The printer is a real TCP peer on 127.0.0.1 (tests/fakes/escpos_server.py) that records the
bytes and answers status requests like a shop printer. Orders go in through the ledger, exactly
as a source stores them; tickets come out at the printer.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import print_jobs

from notifier.core import i18n
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending, Ledger
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.print_queue import PrintQueue
from notifier.core.print_worker import PrintWorker, network_driver
from notifier.core.settings import Settings
from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.util import wait_until

pytestmark = pytest.mark.e2e

ORDER_URL = "http://admin.example/#/order?orderId={order_id}"


DETAILS = OrderDetails.of([OrderItem.of("宫保鸡丁", 2), OrderItem.of("米饭", 3)],
                          remark="少辣，多放葱", phone="13812345678")


def order(n: int, *, kind: OrderKind = OrderKind.NEW_ORDER) -> OrderEvent:
    number = f"17982412{n:05d}"
    return OrderEvent(kind, str(n), "json", "shop", order_number=number,
                      amount=Decimal("56.50") + n, customer="张三", details=DETAILS)


@pytest.fixture
def printer() -> Iterator[EscposPrinterServer]:
    server = EscposPrinterServer().start()
    yield server
    server.stop()


@pytest.fixture
def chinese():
    before = i18n.language()
    i18n.set_language("zh_CN")
    yield
    i18n.set_language(before)


class Shop:
    """The ledger, the print queue and its worker, wired the way the app wires them."""

    def __init__(self, path: Path, settings: Settings):
        self.settings = settings
        self.ledger = Ledger(path)
        self.queue = PrintQueue(path)
        self.queue.configure(settings)
        self.statuses = []
        self.worker = PrintWorker(settings, self.queue, network_driver(settings), self.statuses.append)

    def store(self, event: OrderEvent) -> bool:
        new = self.ledger.record(event)
        self.worker.wake()
        return new

    def close(self) -> None:
        self.worker.stop()
        self.queue.close()
        self.ledger.close()


@pytest.fixture
def shop_factory(tmp_path: Path):
    shops = []

    def make(address: str, **changes) -> Shop:
        values = {"printer.print_on": "new_order", "printer.address": address,
                  "printer.shop_name": "老王面馆", "alerts.order_url": ORDER_URL,
                  "printer.timeout": 1}
        values.update(changes)
        shop = Shop(tmp_path / "ledger.sqlite3", Settings(values))
        shops.append(shop)
        return shop

    yield make
    for shop in shops:
        shop.close()


def test_a_new_order_prints_a_chinese_ticket_with_qr_and_cut(printer, shop_factory, chinese):
    shop = shop_factory(printer.address)
    shop.worker.start()
    shop.store(order(7))
    (ticket,) = printer.wait_for_tickets(1)
    lines = ticket.lines
    assert lines[0] == "老王面馆"
    assert lines[1] == "新订单"
    assert lines[2] == "#1798241200007"
    # The last four digits, which the voice says and the counter calls, are the biggest: 3x3
    # (GS !), with the double-byte font's double size (FS !) for printers that use it.
    assert b"\x1d!\x22\x1c!\x0c0007" in ticket.raw
    assert any(line.startswith("宫保鸡丁") and line.endswith("x2") for line in lines)
    assert any(line.startswith("米饭") and line.endswith("x3") for line in lines)
    assert "备注：少辣，多放葱" in lines
    assert any(line.startswith("金额") and "63.50" in line for line in lines)
    assert "电话：138****5678" in lines  # masked by default
    assert ticket.qr_contents == ["http://admin.example/#/order?orderId=7"]
    assert ticket.raw.rstrip(b"\x00\x01").endswith(b"\x1dV")  # the cut ends the ticket
    wait_until(lambda: print_jobs(shop.ledger.path, "done") == [("json|shop|new_order|7|order|1", "done", 1)], 5)


def test_reminders_are_not_printed_and_copies_are(printer, shop_factory, chinese):
    shop = shop_factory(printer.address, **{"printer.copies": 2})
    shop.worker.start()
    shop.store(order(1))
    shop.store(order(1, kind=OrderKind.REMINDER))
    tickets = printer.wait_for_tickets(2)
    assert "第 1/2 联" in tickets[0].lines and "第 2/2 联" in tickets[1].lines
    wait_until(lambda: shop.queue.waiting() == 0, 5)
    assert len(printer.tickets()) == 2  # the reminder printed nothing
    assert not any("催单" in t.text for t in printer.tickets())


def test_an_offline_printer_keeps_tickets_and_prints_them_once_in_order(printer, shop_factory):
    address = printer.address
    printer.refuse()
    shop = shop_factory(address)
    shop.worker.start()
    for n in range(1, 4):
        shop.store(order(n))
    wait_until(lambda: any(s.state == "waiting" for s in shop.statuses), 10)
    assert shop.queue.waiting() == 3
    printer.hang()  # accepts, never reads: nothing may be counted as printed
    shop.store(order(4))
    wait_until(lambda: printer.connections >= 1, 10)
    wait_until(lambda: sum(1 for s in shop.statuses if s.state == "waiting") >= 2, 10)
    assert shop.queue.waiting() == 4
    printer.come_back()
    tickets = printer.wait_for_tickets(4, timeout=20)
    numbers = [next(line for line in t.lines if line.startswith("#")) for t in tickets]
    assert numbers == [f"#17982412{n:05d}" for n in range(1, 5)]
    wait_until(lambda: shop.queue.waiting() == 0, 5)
    assert len(printer.tickets()) == 4


def test_an_empty_paper_roll_keeps_the_ticket_waiting(printer, shop_factory):
    printer.out_of_paper = True
    shop = shop_factory(printer.address)
    shop.worker.start()
    shop.store(order(1))
    wait_until(lambda: any("paper" in (s.detail or "") for s in shop.statuses), 10)
    assert printer.tickets() == [] and shop.queue.waiting() == 1
    printer.out_of_paper = False
    printer.wait_for_tickets(1, timeout=10)


def test_image_mode_draws_the_ticket_and_keeps_the_qr(printer, shop_factory, capfd):
    shop = shop_factory(printer.address, **{"printer.chinese": "image"})
    shop.worker.start()
    shop.store(order(3))
    (ticket,) = printer.wait_for_tickets(1)
    assert b"\x1dv0" in ticket.raw  # a raster image, not text
    assert "宫保鸡丁" not in ticket.text
    assert ticket.qr_contents == ["http://admin.example/#/order?orderId=3"]
    # Nothing on stdout: `notifier listen` writes its JSON lines there (the printer library
    # used to print a warning about the paper width for every image ticket).
    assert capfd.readouterr().out == ""


def test_print_test_command_prints_a_test_ticket_and_says_so(printer, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NOTIFIER_HOME=str(tmp_path))
    base = [sys.executable, "-m", "notifier", "--set", f"printer.address={printer.address}",
            "--set", "general.language=zh_CN", "print-test"]
    done = subprocess.run(base, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "测试小票已在 127.0.0.1:" in done.stdout
    (ticket,) = printer.wait_for_tickets(1)
    assert "打印机测试页" in ticket.lines
    printer.refuse()
    failed = subprocess.run(base, capture_output=True, text=True, timeout=60, env=env)
    assert failed.returncode == 1
    assert failed.stderr.strip().startswith("未能在 127.0.0.1:") and "Traceback" not in failed.stderr


def test_a_printer_that_goes_offline_after_each_ticket_gets_each_ticket_once(printer, shop_factory, chinese):
    """Found: a printer reporting offline after receiving each ticket (cover opened) was sent
    the same ticket 15 times in 27 s, 14 of them marked 补打. It prints its buffer when the cover
    closes: each ticket goes out once, and "offline" is said meanwhile."""
    printer.offline_after_ticket = 1.5
    shop = shop_factory(printer.address)
    shop.worker.hold_poll_s = 0.1
    shop.worker.start()
    for n in range(1, 4):
        shop.store(order(n))
    wait_until(lambda: shop.queue.waiting() == 0, 20)
    tickets = printer.tickets()
    numbers = [next(line for line in t.lines if line.startswith("#")) for t in tickets]
    assert numbers == [f"#17982412{n:05d}" for n in range(1, 4)], "each once, in order"
    assert not any("补打" in t.text for t in tickets)
    said = i18n.tr("The printer reports that it is offline (cover open or an error).")
    offline = [s for s in shop.statuses if s.state == "waiting" and s.detail == said]
    assert len(offline) >= 3, "the owner is told while each ticket waits in the printer"
    assert printer.connections == 1, "nothing was dropped and sent again"


def test_a_printer_switched_off_while_it_holds_a_ticket_gets_it_once_more_marked_reprint(
        printer, shop_factory, chinese):
    """Its buffer may be gone with the power: the ticket is sent again, once, when the printer
    reports ready, marked 补打; not while it still reports offline."""
    printer.offline_after_ticket = 30
    shop = shop_factory(printer.address)
    shop.worker.hold_poll_s = 0.1
    shop.worker.start()
    shop.store(order(5))
    printer.wait_for_tickets(1)
    wait_until(lambda: printer.status_requests >= 3, 10)  # asked, held, asked again: not resent
    printer.cut_power()
    wait_until(lambda: printer.connections >= 3, 10, message="reconnects, finds it offline, retries")
    assert len(printer.tickets()) == 1, "nothing sent to a printer that says it is offline"
    printer.offline_after_ticket = 0.2
    printer.close_cover()
    reprint = printer.wait_for_tickets(2, timeout=15)[1]
    assert "新订单 （补打）" in reprint.lines
    wait_until(lambda: shop.queue.waiting() == 0, 10)
    assert len(printer.tickets()) == 2


def test_a_cancelled_order_the_kitchen_has_gets_a_void_ticket_on_that_printer(printer, shop_factory, chinese):
    """Found: a customer's cancellation was a popup only; the kitchen kept cooking."""
    shop = shop_factory(printer.address, **{"printer.copies": 2})
    shop.worker.start()
    shop.store(order(8))
    printer.wait_for_tickets(2)
    cancel = OrderEvent(OrderKind.CANCELLED, "8", "json", "shop", text="不想要了")
    shop.store(cancel)
    void = printer.wait_for_tickets(3)[2]
    assert void.lines[0] == "老王面馆" and void.lines[1] == "作废 · 订单已取消"
    assert "#1798241200008" in void.lines
    assert "顾客已取消此订单，请停止制作。" in void.lines
    assert any(line.startswith("宫保鸡丁") for line in void.lines), "what to stop making"
    assert void.qr_contents == [] and not any(line.startswith("金额") for line in void.lines)
    wait_until(lambda: shop.queue.waiting() == 0, 5)
    # One void per printer, however many copies and cancellations: the status poll ending the
    # order as cancelled afterwards adds nothing.
    shop.ledger.end_order("json", "shop", "8", Ending.CANCELLED, "不想要了", connection_id="")
    assert shop.queue.waiting() == 0, "a job would be queued by the ending's own transaction"
    assert [key for key, _state, _n in print_jobs(shop.ledger.path)] == [
        "json|shop|new_order|8|order|1", "json|shop|new_order|8|order|2",
        f"json|shop|new_order|8|void|escpos_network:{printer.address}"]


def test_an_order_ended_as_cancelled_elsewhere_gets_a_void_ticket_with_the_reason(printer, shop_factory, chinese):
    shop = shop_factory(printer.address)
    shop.worker.start()
    shop.store(order(9))
    printer.wait_for_tickets(1)
    # Sky-take-out's status poll: the order left the waiting list, cancelled with a reason.
    shop.ledger.end_order("json", "shop", "9", Ending.CANCELLED, "商家太忙", connection_id="")
    shop.worker.wake()
    void = printer.wait_for_tickets(2)[1]
    assert void.lines[1] == "作废 · 订单已取消" and "原因：商家太忙" in void.lines


def test_a_cancelled_order_whose_ticket_still_waits_is_never_printed(printer, shop_factory):
    address = printer.address
    printer.refuse()
    shop = shop_factory(address)
    shop.worker.start()
    shop.store(order(10))
    shop.store(order(11))
    shop.store(OrderEvent(OrderKind.CANCELLED, "10", "json", "shop"))
    assert shop.queue.waiting() == 1, "the cancelled order's ticket is dropped, not voided"
    printer.come_back()
    (ticket,) = printer.wait_for_tickets(1, timeout=20)
    assert "#1798241200011" in ticket.lines
    wait_until(lambda: shop.queue.waiting() == 0, 5)
    assert len(printer.tickets()) == 1
    assert print_jobs(shop.ledger.path, "dropped") == [("json|shop|new_order|10|order|1", "dropped", 0)]
