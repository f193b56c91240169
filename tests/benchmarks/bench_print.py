"""Benchmark: kitchen tickets, from the order on disk to the ticket at the printer (a script).

    .venv/bin/python -m tests.benchmarks.bench_print [--orders 50] [--burst 100] [--no-system]

For each kind of printer, one order at a time: the time from `Ledger.record` returning (the order
is on disk, its ticket job written by the same transaction) to
- ESC/POS network printer (the recording printer on 127.0.0.1): the ticket's cut command read
  by the printer; in both Chinese modes (GB18030 text, drawn image);
- system printer (CUPS, queue PDF, needs .ci/setup.d/60-cups.sh): the spooler accepting the
  job, and cups-pdf's PDF on disk.
Then 100 orders stored in a burst: the time until the last ticket is printed, and whether they
came out in order. Baseline in the same run: connect + send + status answer of the same bytes
straight to the printer (no ledger, no queue). Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import pwd
import socket
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from notifier.core.escpos_printer import render_escpos
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.print_queue import PrintQueue
from notifier.core.print_worker import PrintWorker, network_driver
from notifier.core.settings import Settings
from notifier.core.ticket import build_ticket
from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.util import wait_until

DETAILS = OrderDetails.of([OrderItem.of("宫保鸡丁", 2), OrderItem.of("米饭", 3)], remark="少辣",
                          phone="13812345678")


def order(n: int) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop", order_number=f"1798{n:09d}",
                      amount=Decimal("56.50"), customer="张三", details=DETAILS)


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
            f"range {ms[0]:.1f}-{ms[-1]:.1f} ms (n={len(ms)})")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def baseline(printer: EscposPrinterServer, data: bytes, count: int) -> list[float]:
    host, port = printer.address.split(":")
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(data + b"\x10\x04\x01")
            sock.recv(16)
        samples.append(time.perf_counter() - t0)
    return samples


def escpos_run(tmp: Path, chinese: str, orders: int, burst: int) -> None:
    printer = EscposPrinterServer().start()
    settings = Settings({"printer.print_on": "new_order", "printer.address": printer.address,
                         "printer.chinese": chinese, "printer.shop_name": "老王面馆",
                         "alerts.order_url": "http://admin.example/o/{order_id}"})
    path = tmp / f"ledger-{chinese}.sqlite3"
    ledger = Ledger(path)
    queue = PrintQueue(path)
    queue.configure(settings)
    worker = PrintWorker(settings, queue, network_driver(settings))
    worker.start()
    try:
        data = render_escpos(build_ticket(order(0), settings), chinese=chinese)
        t0 = time.perf_counter()
        for _ in range(20):
            render_escpos(build_ticket(order(0), settings), chinese=chinese)
        render_ms = (time.perf_counter() - t0) / 20 * 1000
        print(f"  escpos/{chinese}: ticket {len(data):,} bytes, laid out and encoded in {render_ms:.1f} ms")
        print(f"  baseline (same bytes straight to the printer): {summary(baseline(printer, data, orders))}")
        samples = []
        for n in range(1, orders + 1):
            before = len(printer.tickets())
            ledger.record(order(n))
            on_disk = time.monotonic()
            worker.wake()
            tickets = printer.wait_for_tickets(before + 1, timeout=10)
            samples.append(tickets[-1].received_at - on_disk)
        print(f"  order on disk -> ticket at the printer: {summary(samples)}")
        before = len(printer.tickets())
        first = 10_000
        t0 = time.monotonic()
        for n in range(first, first + burst):
            ledger.record(order(n))
        worker.wake()
        tickets = printer.wait_for_tickets(before + burst, timeout=120)[before:]
        took = tickets[-1].received_at - t0
        # The QR code carries the order's address, in both modes: it tells which order each is.
        printed = [t.qr_contents[0].rsplit("/", 1)[1] for t in tickets]
        in_order = printed == [str(n) for n in range(first, first + burst)]
        print(f"  burst of {burst}: last ticket {took * 1000:.0f} ms after the first order was "
              f"stored ({burst / took:.0f} tickets/s); in order: {in_order}")
    finally:
        worker.stop()
        queue.close()
        ledger.close()
        printer.stop()


def system_run(tmp: Path, orders: int, burst: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtPrintSupport import QPrinterInfo

    from notifier.desktop.system_printer import SystemPrinter

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs it
    if "PDF" not in [info.printerName() for info in QPrinterInfo.availablePrinters()]:
        print("  system: no CUPS queue PDF (run .ci/setup.d/60-cups.sh); skipped")
        return
    out_dir = Path("/var/spool/cups-pdf") / pwd.getpwuid(os.getuid()).pw_name
    settings = Settings({"printer.print_on": "new_order", "printer.kind": "system",
                         "printer.address": "PDF", "printer.shop_name": "老王面馆"})
    path = tmp / "ledger-system.sqlite3"
    ledger = Ledger(path)
    queue = PrintQueue(path)
    queue.configure(settings)
    done: dict[str, float] = {}
    worker = PrintWorker(settings, queue, SystemPrinter("PDF"),
                         on_printed=lambda job: done.__setitem__(job.entry.event.order_id, time.monotonic()))
    worker.start()
    stamp = int(time.time())
    try:
        spooled, pdf = [], []
        for n in range(1, orders + 1):
            event = order(stamp * 1000 + n)
            ledger.record(event)
            on_disk = time.monotonic()
            worker.wake()
            wait_until(lambda event=event: event.order_id in done, 30)
            spooled.append(done[event.order_id] - on_disk)
            pattern = f"ticket-{event.order_number}-1*.pdf"
            wait_until(lambda pattern=pattern: any(out_dir.glob(pattern)), 60, interval=0.005)
            pdf.append(time.monotonic() - on_disk)
        print(f"  system/CUPS: order on disk -> job accepted by the spooler: {summary(spooled)}")
        print(f"  system/CUPS: order on disk -> PDF written by cups-pdf:    {summary(pdf)}")
        ids = [str(stamp * 1000 + 500 + n) for n in range(burst)]
        t0 = time.monotonic()
        for order_id in ids:
            ledger.record(order(int(order_id)))
        worker.wake()
        wait_until(lambda: all(i in done for i in ids), 300)
        took = max(done[i] for i in ids) - t0
        in_order = [done[i] for i in ids] == sorted(done[i] for i in ids)
        print(f"  system/CUPS burst of {burst}: all spooled {took * 1000:.0f} ms after the first "
              f"order was stored ({burst / took:.0f} tickets/s); in order: {in_order}")
    finally:
        worker.stop()
        queue.close()
        ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--system-orders", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--no-system", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for chinese in ("gb18030", "image"):
            escpos_run(Path(tmp), chinese, args.orders, args.burst)
        if not args.no_system:
            system_run(Path(tmp), args.system_orders, args.burst)
    print(f"load average after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
