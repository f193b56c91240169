"""Kitchen tickets on a system printer: a real CUPS server with a cups-pdf queue named PDF.

.ci/setup.d/60-cups.sh starts cupsd on 127.0.0.1 and adds the queue; cups-pdf writes each job to
/var/spool/cups-pdf/<user>/. An order stored in the ledger comes out as a PDF whose text (read
with poppler's pdftotext) holds the order number, the items and the amount.

NOTIFIER_WRITE_DOCS=1 also renders the ticket to docs/printing-ticket-80mm.png (committed).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import print_jobs

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.print_queue import PrintQueue
from notifier.core.settings import Settings
from tests.fakes.util import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.needs_system("cups")]

QUEUE = "PDF"
OUT_DIR = Path("/var/spool/cups-pdf") / pwd.getpwuid(os.getuid()).pw_name
DOCS = Path(__file__).resolve().parents[2] / "docs"


def cups_queue_ready() -> bool:
    if not shutil.which("lpstat") or not shutil.which("pdftotext"):
        return False
    result = subprocess.run(["lpstat", "-p", QUEUE], capture_output=True, text=True, timeout=10)
    return result.returncode == 0 and "enabled" in result.stdout


@pytest.fixture
def cups():
    if not cups_queue_ready():
        message = "no CUPS queue PDF: run .ci/setup.d/60-cups.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def chinese():
    from notifier.core import i18n

    before = i18n.language()
    i18n.set_language("zh_CN")
    yield
    i18n.set_language(before)


def test_an_order_prints_on_the_system_printer_as_a_readable_ticket(cups, chinese, qtbot, tmp_path):
    from notifier.desktop.printing import PrintDesk

    number = f"17{int(time.time() * 1000) % 10**11:011d}"
    remark = "不要香菜，" + "多放葱，" * 40 + "谢谢"  # 167 characters: wrapped, printed whole
    details = OrderDetails.of([OrderItem.of("宫保鸡丁", 2), OrderItem.of("酸辣汤", 1),
                               OrderItem.of("🌶️🌶️🌶️ 水煮牛肉", 1, notes="牛肉要嫩")]
                              + [OrderItem.of(f"小菜{n:02d}", 1) for n in range(40)],
                              remark=remark, phone="13812345678", address="幸福路 8 号 3 单元")
    event = OrderEvent(OrderKind.NEW_ORDER, number, "json", "shop", order_number=number,
                       amount=Decimal("88.50"), customer="张三", details=details)
    settings = Settings({"printer.print_on": "new_order", "printer.kind": "system",
                         "printer.address": QUEUE, "printer.paper": "80mm",
                         "printer.shop_name": "老王面馆",
                         "alerts.order_url": "http://admin.example/#/order?orderId={order_id}"})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    desk = PrintDesk(PrintQueue(ledger.path), settings)
    try:
        ledger.record(event)
        desk.wake()
        wait_until(lambda: print_jobs(ledger.path, "done"), 20)
        pdfs: list[Path] = []

        def pdf_written() -> bool:
            pdfs[:] = sorted(OUT_DIR.glob(f"ticket-{number}-1*.pdf"))
            return bool(pdfs) and pdfs[0].stat().st_size > 0

        wait_until(pdf_written, 30)
        time.sleep(0.5)  # cups-pdf renames the finished file into place; let it settle
        text = subprocess.run(["pdftotext", "-layout", str(pdfs[0]), "-"], capture_output=True,
                              text=True, timeout=30).stdout
        # The CJK font's ToUnicode maps a few characters to their radical forms; NFKC folds them.
        text = unicodedata.normalize("NFKC", text)
        assert number[-4:] in text and number[:-4] in text
        assert "宫保鸡丁" in text and "x2" in text and "酸辣汤" in text
        assert "[辣椒×3] 水煮牛肉" in text and "(牛肉要嫩)" in text
        assert all(f"小菜{n:02d}" in text for n in range(40)), "every dish"
        assert "88.50" in text
        assert unicodedata.normalize("NFKC", remark) in "".join(text.split()), "the whole remark"
        assert "地址:幸福路 8 号 3 单元" in text
        assert "138****5678" in text and "13812345678" not in text
        png = tmp_path / "ticket"
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdfs[0]), str(png)],
                       check=True, timeout=30)
        assert Path(f"{png}.png").stat().st_size > 5000
        if os.environ.get("NOTIFIER_WRITE_DOCS") == "1":
            shutil.copy(f"{png}.png", DOCS / "printing-ticket-80mm.png")
    finally:
        desk.stop()
        ledger.close()


def test_a_missing_system_printer_keeps_the_ticket_and_says_so(cups, qtbot, tmp_path):
    from notifier.desktop.printing import PrintDesk

    settings = Settings({"printer.print_on": "new_order", "printer.kind": "system",
                         "printer.address": "NoSuchPrinter"})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    spoken: list[str] = []
    desk = PrintDesk(PrintQueue(ledger.path), settings, announce=lambda text, key=None: spoken.append(text))
    try:
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, "1", "json", "shop", order_number="1001"))
        desk.wake()
        qtbot.waitUntil(lambda: "1" in desk.problem and "NoSuchPrinter" in desk.problem, timeout=10000)
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, "2", "json", "shop", order_number="1002"))
        desk.wake()
        qtbot.waitUntil(lambda: "2" in desk.problem, timeout=10000)
        assert desk.queue.waiting() == 2
        assert len(spoken) == 1  # said once per outage, however long it lasts
    finally:
        desk.stop()
        ledger.close()
