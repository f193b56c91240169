"""Kitchen tickets on the system's printers (CUPS on Linux and macOS, the Windows spooler).

A printer driver for the core's print worker (`notifier.core.print_worker.PrinterDriver`): the
ticket is laid out as a small rich-text document (the same lines and sizes the thermal printer
gets, the QR code as a picture) and printed with `QPrinter`. Roll paper (58/80 mm) gets a page
exactly as long as the ticket; A4 gets the ticket at the top of a page. The ticket counts as
taken when the system's spooler accepted the job.

Runs on the print worker's thread: QPrinter, QTextDocument and QImage are not widgets and may
be used off the GUI thread.
"""

from __future__ import annotations

import html
import io
import logging

from PySide6.QtCore import QCoreApplication, QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QTextDocument
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from notifier.core.escpos_printer import PrinterProblem
from notifier.core.ticket import BIG, HUGE, Ticket

log = logging.getLogger(__name__)

PAPER_MM = {"58mm": 58.0, "80mm": 80.0}
MARGIN_MM = 3.0
A4_MARGIN_MM = 15.0
POINTS = {"normal": 7, BIG: 11, HUGE: 20}
QR_URL = "ticket://qr.png"
FONT_FAMILIES = ("'DejaVu Sans', Arial, 'Noto Sans CJK SC', 'Microsoft YaHei', 'PingFang SC', "
                 "'WenQuanYi Micro Hei', SimHei, sans-serif")


def qr_image(text: str) -> QImage:
    import qrcode

    picture = qrcode.make(text, box_size=4, border=2)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    image = QImage()
    image.loadFromData(buffer.getvalue(), "PNG")
    return image


def ticket_document(ticket: Ticket) -> QTextDocument:
    document = QTextDocument()
    document.setDocumentMargin(0)
    if ticket.qr:
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(QR_URL), qr_image(ticket.qr))
    document.setHtml(ticket_html(ticket))
    return document


def ticket_html(ticket: Ticket) -> str:
    """The ticket's lines as HTML: each line a paragraph in its size, the QR code under them."""
    rows = []
    for line in ticket.lines:
        weight = "bold" if line.bold else "normal"
        text = html.escape(line.text)
        if line.tail:
            text += f'<span style="font-size:{POINTS[line.tail_size]}pt">{html.escape(line.tail)}</span>'
        if set(line.text) == {"-"}:
            rows.append("<hr/>")
            continue
        rows.append(f'<p align="{line.align}" style="margin:0; white-space:pre; font-size:{POINTS[line.size]}pt; '
                    f'font-weight:{weight}">{text}</p>')
    if ticket.qr:
        rows.append(f'<p align="center"><img src="{QR_URL}" width="120" height="120"/></p>')
    # A Latin face first (digits and letters), then Simplified-Chinese faces: Qt takes each
    # character from the first face that has it, and a Japanese face draws some differently.
    return (f'<html><body style="font-family:{FONT_FAMILIES}">' + "".join(rows) + "</body></html>")


def _not_accepted(name: str) -> str:
    return QCoreApplication.translate(
        "SystemPrinter", "The printer {name} did not accept the ticket.").format(name=name)


class SystemPrinter:
    """One of the system's printers, by name ("" = the default printer)."""

    def __init__(self, name: str = "", *, paper: str = "80mm"):
        self.name = name.strip()
        self.paper = paper
        self._info: QPrinterInfo | None = None

    def label(self) -> str:
        return self.name or QCoreApplication.translate("SystemPrinter", "the default printer")

    def prepare(self) -> None:
        """Nothing to load: Qt's printing is part of the app."""

    def open(self) -> None:
        info = QPrinterInfo.printerInfo(self.name) if self.name else QPrinterInfo.defaultPrinter()
        if info.isNull():
            raise PrinterProblem(QCoreApplication.translate(
                "SystemPrinter", "The printer {name} is not installed on this computer.").format(
                    name=self.label()))
        self._info = info

    def render(self, ticket: Ticket) -> Ticket:
        return ticket  # laid out when printed: the page length follows the printer's resolution

    def send(self, ticket: Ticket) -> None:
        printer = QPrinter(self._info, QPrinter.PrinterMode.HighResolution)
        printer.setDocName(f"ticket-{ticket.order_number}-{ticket.copy}")
        printer.setCreator("Order Notifier")
        document = ticket_document(ticket)
        width_mm = PAPER_MM.get(self.paper)
        margin = MARGIN_MM if width_mm else A4_MARGIN_MM
        page_width_mm = width_mm or 210.0
        # Lay the text out at the paper's width (in points); a roll page is as long as the text.
        document.setTextWidth((page_width_mm - 2 * margin) * 72 / 25.4)
        if width_mm:
            height_mm = max(40.0, document.size().height() * 25.4 / 72 + 2 * margin)
            size = QPageSize(QSizeF(width_mm, height_mm), QPageSize.Unit.Millimeter, "ticket",
                             QPageSize.SizeMatchPolicy.ExactMatch)
        else:
            size = QPageSize(QPageSize.PageSizeId.A4)
        printer.setPageLayout(QPageLayout(size, QPageLayout.Orientation.Portrait,
                                          QMarginsF(margin, margin, margin, margin),
                                          QPageLayout.Unit.Millimeter))
        painter = QPainter()
        if not painter.begin(printer):
            raise PrinterProblem(_not_accepted(self.label()))
        try:
            scale = printer.resolution() / 72  # the document is laid out in points
            painter.scale(scale, scale)
            document.drawContents(painter)
        finally:
            painter.end()
        if printer.printerState() == QPrinter.PrinterState.Error:
            raise PrinterProblem(_not_accepted(self.label()))

    def close(self) -> None:
        self._info = None
