"""Kitchen tickets on ESC/POS printers on a serial port and on USB.

The serial printer is real as far as this machine allows: pyserial opens a pseudo-terminal the
way it opens /dev/ttyUSB0, and the other end of it plays the printer (tests/fakes/
escpos_serial.py), recording the bytes and answering the status requests. A USB printer cannot
be plugged in here: those tests give python-escpos a stand-in for pyusb's device and say so in
their names.
"""

from __future__ import annotations

import errno
import os
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.core import i18n
from notifier.core.escpos_printer import (
    PrinterProblem,
    SerialPrinter,
    UsbPrinter,
    parse_serial_address,
    parse_usb_address,
)
from notifier.core.ledger import Ledger
from notifier.core.print_queue import PrintQueue
from notifier.core.print_worker import PrintWorker, network_driver
from notifier.core.settings import Settings
from tests.e2e.test_print_escpos import ORDER_URL, order
from tests.fakes.escpos_serial import SerialPrinterPeer
from tests.fakes.escpos_server import DLE_EOT, ONLINE_OK, PAPER_OK, ticket_text
from tests.fakes.util import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def serial_printer() -> Iterator[SerialPrinterPeer]:
    peer = SerialPrinterPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def chinese():
    before = i18n.language()
    i18n.set_language("zh_CN")
    yield
    i18n.set_language(before)


class Shop:
    """The ledger, the print queue and its worker, wired the way the app wires them."""

    def __init__(self, path: Path, settings: Settings):
        self.ledger = Ledger(path)
        self.queue = PrintQueue(path)
        self.queue.configure(settings)
        self.statuses = []
        self.worker = PrintWorker(settings, self.queue, network_driver(settings), self.statuses.append)

    def store(self, event) -> None:
        self.ledger.record(event)
        self.worker.wake()

    def close(self) -> None:
        self.worker.stop()
        self.queue.close()
        self.ledger.close()


@pytest.fixture
def shop_factory(tmp_path: Path):
    shops = []

    def make(kind: str, address: str) -> Shop:
        shop = Shop(tmp_path / "ledger.sqlite3", Settings({
            "printer.print_on": "new_order", "printer.kind": kind, "printer.address": address,
            "printer.shop_name": "老王面馆", "alerts.order_url": ORDER_URL, "printer.timeout": 1}))
        shops.append(shop)
        return shop

    yield make
    for shop in shops:
        shop.close()


# -- serial ---------------------------------------------------------------------------------


def test_a_serial_printer_prints_a_chinese_ticket_with_a_cut(serial_printer, shop_factory, chinese):
    shop = shop_factory("escpos_serial", f"{serial_printer.path}:19200")
    shop.worker.start()
    shop.store(order(7))
    (ticket,) = serial_printer.wait_for_tickets(1)
    lines = ticket.lines
    assert lines[:3] == ["老王面馆", "新订单", "#1798241200007"]
    assert any(line.startswith("宫保鸡丁") and line.endswith("x2") for line in lines)
    assert "备注：少辣，多放葱" in lines
    assert ticket.raw.rstrip(b"\x00\x01").endswith(b"\x1dV")  # the cut ends the ticket
    wait_until(lambda: shop.queue.waiting() == 0 and shop.worker.printed == 1, 5)


def test_an_unplugged_serial_printer_keeps_tickets_and_prints_them_once_when_it_appears(
        serial_printer, shop_factory, tmp_path):
    device = tmp_path / "ttyUSB0"  # not there yet: the printer is unplugged
    shop = shop_factory("escpos_serial", str(device))
    shop.worker.start()
    shop.store(order(1))
    shop.store(order(2))
    wait_until(lambda: any(s.state == "waiting" and "does not exist" in (s.detail or "")
                           for s in shop.statuses), 10)
    assert shop.queue.waiting() == 2 and serial_printer.tickets() == []
    os.symlink(serial_printer.path, device)  # plugged in: udev makes the device node
    tickets = serial_printer.wait_for_tickets(2, timeout=20)
    numbers = [next(line for line in t.lines if line.startswith("#")) for t in tickets]
    assert numbers == ["#1798241200001", "#1798241200002"]
    wait_until(lambda: shop.queue.waiting() == 0, 5)
    assert len(serial_printer.tickets()) == 2  # each exactly once


def test_a_missing_serial_device_is_one_sentence_in_chinese(tmp_path, chinese):
    printer = SerialPrinter(str(tmp_path / "ttyUSB9"), timeout=1)
    with pytest.raises(PrinterProblem) as caught:
        printer.open()
    assert str(caught.value) == f"{tmp_path / 'ttyUSB9'} 上没有打印机：设备不存在（未插好或未开机？）。"


def test_serial_and_usb_addresses():
    assert parse_serial_address("/dev/ttyUSB0") == ("/dev/ttyUSB0", 9600)
    assert parse_serial_address(" /dev/ttyUSB0:19200 ") == ("/dev/ttyUSB0", 19200)
    assert parse_serial_address("COM3") == ("COM3", 9600)
    assert parse_usb_address("0416:5011") == (0x0416, 0x5011)
    assert parse_usb_address("04B8:0E15") == (0x04B8, 0x0E15)
    for bad in ("/dev/ttyUSB0:12", ""):
        with pytest.raises(ValueError):
            parse_serial_address(bad)
    for bad in ("0416", "zz:5011", "10000:1", "192.168.1.50:9100x"):
        with pytest.raises(ValueError):
            parse_usb_address(bad)


# -- USB, with a stand-in for pyusb's device -------------------------------------------------


class StandInUsbDevice:
    """What python-escpos's `Usb` printer calls on a pyusb device: write, read, configure."""

    class _Context:
        def dispose(self, device) -> None:
            pass

    class _Backend:  # not libusb1's: python-escpos then detaches no kernel driver
        pass

    def __init__(self, *, write_error: int | None = None):
        self.written = bytearray()
        self.write_error = write_error
        self.backend = self._Backend()
        self._ctx = self._Context()
        self._replies: list[int] = []

    def set_configuration(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        import usb.core

        if self.write_error is not None:
            raise usb.core.USBError(os.strerror(self.write_error), errno=self.write_error)
        data = bytes(data)
        if data[:2] == DLE_EOT and len(data) == 3:
            self._replies.append(ONLINE_OK if data[2] == 1 else PAPER_OK)
        else:
            self.written += data
        return len(data)

    def read(self, endpoint: int, size: int) -> array:
        return array("B", [self._replies.pop(0)] if self._replies else [])


@pytest.fixture
def usb_bus(monkeypatch):
    """usb.core.find answers with the devices in this dict, keyed (vendor, product)."""
    import usb.core

    devices: dict[tuple[int, int], StandInUsbDevice] = {}
    monkeypatch.setattr(usb.core, "find", lambda idVendor=None, idProduct=None, **_:
                        devices.get((idVendor, idProduct)))
    return devices


def test_usb_printer_with_a_stand_in_device_prints_a_ticket_through_the_worker(
        usb_bus, shop_factory, chinese):
    device = usb_bus[(0x0416, 0x5011)] = StandInUsbDevice()
    shop = shop_factory("escpos_usb", "0416:5011")
    shop.worker.start()
    shop.store(order(4))
    wait_until(lambda: shop.worker.printed == 1, 10)
    text = ticket_text(bytes(device.written))
    assert "老王面馆" in text and "宫保鸡丁" in text
    assert bytes(device.written).rstrip(b"\x00\x01").endswith(b"\x1dV")
    assert shop.queue.waiting() == 0


def test_usb_printer_with_a_stand_in_device_turns_errors_into_sentences(usb_bus, chinese):
    printer = UsbPrinter("0416:5011", timeout=1)
    with pytest.raises(PrinterProblem) as caught:
        printer.open()  # nothing on the bus
    assert str(caught.value) == "找不到 USB 打印机 0416:5011：是否已插好并开机？"

    usb_bus[(0x0416, 0x5011)] = StandInUsbDevice(write_error=errno.EACCES)
    with pytest.raises(PrinterProblem) as caught:
        printer.open()
    assert "没有权限" in str(caught.value) and "lp" in str(caught.value)
    printer.close()

    i18n.set_language("en")
    usb_bus[(0x0416, 0x5011)] = StandInUsbDevice(write_error=errno.ENODEV)
    with pytest.raises(PrinterProblem) as caught:
        printer.open()
    assert str(caught.value) == "No USB printer 0416:5011 found: is it plugged in and switched on?"


def test_usb_printer_with_a_stand_in_device_unplugged_keeps_tickets_waiting(usb_bus, shop_factory):
    shop = shop_factory("escpos_usb", "0416:5011")
    shop.worker.start()
    shop.store(order(1))
    wait_until(lambda: any(s.state == "waiting" and "No USB printer" in (s.detail or "")
                           for s in shop.statuses), 10)
    assert shop.queue.waiting() == 1
    device = usb_bus[(0x0416, 0x5011)] = StandInUsbDevice()
    wait_until(lambda: shop.worker.printed == 1, 20)
    assert "#1798241200001" in ticket_text(bytes(device.written))
