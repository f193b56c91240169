"""Kitchen tickets without python-escpos: the same bytes it sent, and the library not loaded.

The library costs ~15 MB for as long as the app runs (issue 27); a network or serial printer now
gets its tickets from notifier.core.escpos_commands. The byte comparisons use the library itself
as the reference: what a shop's printer receives must not change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from notifier.core.escpos_printer import render_escpos
from notifier.core.ticket import BIG, CENTER, HUGE, RIGHT, Ticket, TicketLine

LINES = (
    TicketLine("#12 美团外卖", size=BIG, align=CENTER, bold=True),
    TicketLine("----------------"),
    TicketLine("宫保鸡丁 x2", size=BIG),
    TicketLine("合计 ¥38.50 — 已付", align=RIGHT),
    TicketLine("单号 2026120500", tail="0042", tail_size=HUGE, bold=True),
    TicketLine("备注：不要辣 🌶 𠀀"),
)


def _library_bytes(ticket: Ticket, paper: str, chinese: str) -> bytes:
    """The ticket as the code before issue 27 rendered it, with python-escpos's Dummy printer."""
    from escpos.constants import FS
    from escpos.printer import Dummy

    from notifier.core.escpos_printer import (
        FS_SIZE,
        GS_SIZE,
        PAPER_DOTS,
        gbk_printable,
        ticket_image,
    )

    printer = Dummy()
    printer.hw("INIT")
    if chinese == "image":
        dots = PAPER_DOTS[paper]
        media = {"dpi": 203, "width": {"mm": "Unknown", "pixels": dots}}
        printer.profile.profile_data = {**printer.profile.profile_data, "media": media}
        printer.image(ticket_image(ticket, dots), center=False)
    else:
        printer._raw(FS + b"&")
        for line in ticket.lines:
            printer.set(align=line.align, bold=line.bold)
            printer._raw(GS_SIZE[line.size] + FS_SIZE[line.size])
            printer._raw(gbk_printable(line.text).encode("gb18030", "replace"))
            if line.tail:
                printer._raw(GS_SIZE[line.tail_size] + FS_SIZE[line.tail_size])
                printer._raw(gbk_printable(line.tail).encode("gb18030", "replace"))
            printer._raw(b"\n")
        printer._raw(GS_SIZE["normal"] + FS_SIZE["normal"])
        printer.set(align="left", bold=False)
    if ticket.qr:
        printer.set(align=CENTER)
        printer.qr(ticket.qr, size=6, native=True)
        printer.set(align="left")
    printer.cut()
    return printer.output


@pytest.mark.parametrize("chinese", ["gb18030", "image"])
@pytest.mark.parametrize("paper", ["58mm", "80mm"])
@pytest.mark.parametrize("qr", ["", "https://shop.example/o/42?x=订单"])
def test_a_ticket_is_byte_for_byte_what_python_escpos_sent(paper, chinese, qr):
    ticket = Ticket(LINES, qr=qr)
    assert render_escpos(ticket, paper=paper, chinese=chinese) == \
        _library_bytes(ticket, paper, chinese)


def test_a_tall_image_ticket_goes_in_pieces_as_before():
    # Over 960 rows, python-escpos sent the picture as several raster images.
    ticket = Ticket(tuple(TicketLine(f"第{n}行 红烧肉") for n in range(60)))
    ours = render_escpos(ticket, paper="58mm", chinese="image")
    assert ours.count(b"\x1dv0") >= 2
    assert ours == _library_bytes(ticket, "58mm", "image")


def test_printing_to_a_network_printer_does_not_load_python_escpos():
    # In a fresh interpreter, as the tray's print worker: prepare, connect, check paper, print.
    script = textwrap.dedent("""
        import sys
        from tests.fakes.escpos_server import EscposPrinterServer
        from notifier.core.escpos_printer import NetworkPrinter
        from notifier.core.ticket import Ticket, TicketLine

        server = EscposPrinterServer().start()
        printer = NetworkPrinter(server.address)
        printer.prepare()
        printer.open()
        printer.send(printer.render(Ticket((TicketLine("宫保鸡丁 x2"),), qr="https://x/1")))
        assert printer.ready()
        printer.close()
        ticket = server.tickets()[0]
        print(ticket.lines[0], ticket.qr_contents)
        server.stop()
        print(sorted({name.split(".")[0] for name in sys.modules} & {"escpos", "PIL", "qrcode", "barcode", "yaml"}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    printed, loaded = done.stdout.strip().splitlines()[-2:]
    assert printed == "宫保鸡丁 x2 ['https://x/1']"
    assert loaded == "[]"
