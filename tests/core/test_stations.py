"""A printer for each station, in the core: the template each role prints (the counter all of it,
the kitchen dishes and remark in big type, a station only its dishes), the queue's tickets per
station in the order's own transaction, a 作废 slip only on the stations that printed the order,
and an old single-printer settings file read as the first station, losing nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from notifier.core import settings_file
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending, Ledger
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.print_queue import DONE, PrintQueue, printer_label
from notifier.core.print_worker import ticket_for
from notifier.core.settings import Settings
from notifier.core.stations import routed, station_settings, used_stations
from notifier.core.ticket import BIG, NORMAL, build_ticket

THREE = Settings({
    "printer.print_on": "new_order", "printer.address": "10.0.0.5", "printer.role": "counter",
    "printer.shop_name": "老王面馆",
    "printer2.address": "10.0.0.6", "printer2.role": "kitchen",
    "printer3.kind": "system", "printer3.address": "PDF", "printer3.role": "station",
    "printer3.route": "奶茶, 咖啡",
})


def order(n: int = 1, dishes=("牛肉面", "珍珠奶茶")) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop", order_number=f"20261205{n:04d}",
                      amount=Decimal("56.00"), customer="张三",
                      details=OrderDetails.of([OrderItem.of(d, 1, "18") for d in dishes], remark="少辣",
                                              phone="13812345678", address="幸福路 1 号"))


def text_of(ticket) -> str:
    return "\n".join(line.text for line in ticket.lines)


def test_each_role_prints_its_own_template():
    def ticket(n: int):
        view = station_settings(THREE, n)
        return build_ticket(routed(order(), view), view)

    counter, kitchen, bar = (ticket(n) for n in (1, 2, 3))
    assert all(word in text_of(counter) for word in ("牛肉面", "珍珠奶茶", "56.00", "张三", "少辣", "幸福路"))
    kitchen_text = text_of(kitchen)
    assert "牛肉面" in kitchen_text and "珍珠奶茶" in kitchen_text and "少辣" in kitchen_text
    assert not any(word in kitchen_text for word in ("56.00", "张三", "幸福路", "1381"))
    assert {line.size for line in kitchen.lines if "牛肉面" in line.text} == {BIG}
    assert {line.size for line in counter.lines if "牛肉面" in line.text} == {NORMAL}
    bar_text = text_of(bar)
    assert "珍珠奶茶" in bar_text and "牛肉面" not in bar_text and "56.00" not in bar_text


def test_a_station_without_any_of_its_dishes_prints_nothing(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    queue = PrintQueue(ledger.path)
    try:
        queue.configure(THREE)
        ledger.record(order(1, dishes=("牛肉面",)))
        bar = station_settings(THREE, 3)
        job = queue.next_job(printer_label(bar))
        assert job is not None and ticket_for(job, bar) is None
        assert ticket_for(queue.next_job(printer_label(station_settings(THREE, 2))), station_settings(THREE, 2))
    finally:
        queue.close()
        ledger.close()


@pytest.fixture
def files(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    queue = PrintQueue(ledger.path)
    queue.configure(THREE)
    yield ledger, queue
    queue.close()
    ledger.close()


def printers(queue, kind="order", state=None) -> list[str]:
    rows = queue._read(lambda db: db.execute(  # noqa: SLF001 - the test reads the table itself
        "SELECT printer FROM print_jobs WHERE kind=? AND (? IS NULL OR state=?) ORDER BY id",
        (kind, state, state)).fetchall())
    return [r[0] for r in rows]


def test_one_order_queues_a_ticket_on_every_station_in_its_own_transaction(files):
    ledger, queue = files
    assert used_stations(THREE) == [1, 2, 3]
    ledger.record(order(1))
    assert printers(queue) == [printer_label(station_settings(THREE, n)) for n in (1, 2, 3)]
    assert queue.order_printed("json|shop|new_order|1") is False


def test_a_cancellation_voids_only_where_the_order_was_printed(files):
    ledger, queue = files
    ledger.record(order(1))
    counter, kitchen = (printer_label(station_settings(THREE, n)) for n in (1, 2))
    for printer in (counter, kitchen):  # the counter and the kitchen printed it; the bar not yet
        job = queue.next_job(printer)
        queue.mark_sending(job.id)
        queue.mark_done(job.id)
    ledger.end_order("json", "shop", "1", Ending.CANCELLED, "顾客取消", connection_id="")
    assert sorted(printers(queue, "void")) == sorted([counter, kitchen])
    assert printers(queue, "order", "dropped") == [printer_label(station_settings(THREE, 3))]
    assert printers(queue, "order", DONE) == [counter, kitchen]


def test_an_old_single_printer_settings_file_is_the_first_station_losing_nothing(tmp_path: Path):
    old = tmp_path / "settings.toml"
    old.write_text('[connection]\nprotocol = "notifier"\n\n[printer]\nprint_on = "new_order"\n'
                   'kind = "escpos_serial"\naddress = "/dev/ttyUSB0:19200"\npaper = "58mm"\ncopies = 2\n'
                   'shop_name = "老王面馆"\nshow_phone = false\n', encoding="utf-8")
    loaded = settings_file.load(old)
    assert used_stations(loaded) == [1]
    first = station_settings(loaded, 1)
    assert (first["printer.role"], first["printer.kind"], first["printer.address"], first["printer.paper"],
            first["printer.copies"], first["printer.shop_name"], first["printer.show_phone"]) == \
        ("counter", "escpos_serial", "/dev/ttyUSB0:19200", "58mm", 2, "老王面馆", False)
    settings_file.save(loaded, old)  # written back: every old value still there, nothing added
    assert settings_file.load(old) == loaded
    assert "printer2" not in old.read_text(encoding="utf-8")


def test_an_order_history_of_the_single_printer_version_keeps_its_queue(tmp_path: Path):
    """A file of version 6 (print_config, one printer) becomes station 1 with its waiting jobs."""
    from helpers import ledger_file_of_version

    path = ledger_file_of_version(tmp_path / "ledger.sqlite3", 6, "INSERT INTO print_config(id, print_on, "
                                  "copies, printer) VALUES (1, 'new_order', 1, 'escpos_network:10.0.0.5')")
    ledger = Ledger(path)
    queue = PrintQueue(ledger.path)
    try:
        ledger.record(order(7))  # the trigger still reads the old row: now station 1's
        assert printers(queue) == ["escpos_network:10.0.0.5"]
    finally:
        queue.close()
        ledger.close()
