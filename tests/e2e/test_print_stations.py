"""A printer for each station, end to end: two ESC/POS peers on sockets (the counter and the
kitchen) and the real CUPS cups-pdf queue (a bar that makes the drinks) as three stations of one
PrintDesk. One order prints the right template on each (read from what the peers received and
from the PDF's text); a printer that is off holds back only its own station; a customer's
cancellation prints 作废 only where the order's ticket was printed."""

from __future__ import annotations

import subprocess
import sys
import time
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_print_system import OUT_DIR, QUEUE, chinese, cups  # noqa: E402, F401 - fixtures

from notifier.core.events import OrderEvent, OrderKind  # noqa: E402
from notifier.core.ledger import Ending, Ledger  # noqa: E402
from notifier.core.order_details import OrderDetails, OrderItem  # noqa: E402
from notifier.core.print_queue import PrintQueue, printer_label  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from tests.fakes.escpos_server import EscposPrinterServer  # noqa: E402
from tests.fakes.util import wait_until  # noqa: E402
from tests.helpers import print_jobs  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.needs_system("cups"), pytest.mark.timeout(120)]


def order(number: str, dishes: tuple[str, ...]) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, number, "json", "shop", order_number=number,
                      amount=Decimal("56.00"), customer="张三",
                      details=OrderDetails.of([OrderItem.of(d, 1, "18") for d in dishes], remark="少辣",
                                              phone="13812345678", address="幸福路 8 号"))


def pdf_text(number: str) -> str | None:
    pdfs = sorted(OUT_DIR.glob(f"ticket-{number}-*.pdf"))
    if not pdfs or pdfs[0].stat().st_size == 0:
        return None
    text = subprocess.run(["pdftotext", "-layout", str(pdfs[0]), "-"], capture_output=True, text=True,
                          timeout=30).stdout
    return unicodedata.normalize("NFKC", text) or None


def test_three_stations_each_print_their_template_and_void_only_where_printed(cups, chinese, qtbot, tmp_path):  # noqa: F811
    from notifier.desktop.printing import PrintDesk

    counter, kitchen = EscposPrinterServer().start(), EscposPrinterServer().start()
    settings = Settings({
        "printer.print_on": "new_order", "printer.address": counter.address, "printer.role": "counter",
        "printer2.address": kitchen.address, "printer2.role": "kitchen",
        "printer3.kind": "system", "printer3.address": QUEUE, "printer3.role": "station",
        "printer3.route": "奶茶"})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    desk = PrintDesk(PrintQueue(ledger.path), settings)
    stamp = f"{int(time.time() * 1000) % 10**9:09d}"
    cancelled, whole = f"31{stamp}", f"32{stamp}"
    try:
        # The kitchen's printer is off: the counter still prints at once; the bar has no dish.
        kitchen.refuse()
        ledger.record(order(cancelled, ("牛肉面",)))
        desk.wake()
        assert cancelled[-4:] in counter.wait_for_tickets(1, timeout=20)[0].text
        qtbot.waitUntil(lambda: desk.problem.startswith("厨房打印机 2"), timeout=20_000)
        # The customer cancels: 作废 on the counter, which printed it; nothing on the kitchen or bar.
        ledger.end_order("json", "shop", cancelled, Ending.CANCELLED, "不想要了", connection_id="")
        desk.wake()
        void = counter.wait_for_tickets(2, timeout=20)[1]
        assert "作废" in void.text and cancelled[-4:] in void.text and "不想要了" in void.text
        kitchen.come_back()
        wait_until(lambda: desk.queue.waiting() == 0, 20)
        qtbot.waitUntil(lambda: desk.problem == "", timeout=20_000)
        assert [k for k, _state, _n in print_jobs(ledger.path) if "|void|" in k] == \
            [f"json|shop|new_order|{cancelled}|void|{printer_label(settings)}"]

        # One order with a dish for each: every station its own template.
        ledger.record(order(whole, ("牛肉面", "珍珠奶茶")))
        desk.wake()
        at_counter = counter.wait_for_tickets(3, timeout=20)[2]
        (at_kitchen,) = kitchen.wait_for_tickets(1, timeout=20)
        assert whole[-4:] in at_kitchen.text, "the kitchen never had the cancelled order: no slip there"
        assert all(w in at_counter.text for w in ("牛肉面", "珍珠奶茶", "56.00", "张三", "少辣", "幸福路"))
        assert "牛肉面" in at_kitchen.text and "珍珠奶茶" in at_kitchen.text and "少辣" in at_kitchen.text
        assert not any(w in at_kitchen.text for w in ("56.00", "张三", "幸福路", "138"))
        bar = wait_until(lambda: pdf_text(whole), 30, interval=0.2)
        assert "珍珠奶茶" in bar and "牛肉面" not in bar and "56.00" not in bar
        assert pdf_text(cancelled) is None
        assert len(kitchen.tickets()) == 1
    finally:
        desk.stop()
        ledger.close()
        counter.stop()
        kitchen.stop()
