"""Kitchen tickets on ESC/POS thermal printers.

`render_escpos` lays a `Ticket` out as the printer's bytes (the commands in escpos_commands), in
one of two ways for Chinese text:

- "gb18030": the text is sent in GB18030, which common Chinese thermal printers print with their
  own font in Chinese mode (FS &, the one command python-escpos has no method for). Small and
  fast: a ticket is ~1 KB.
- "image": the ticket is drawn with a CJK font into a 1-bit picture and sent as a raster image:
  for printers without a Chinese font. ~30-60 KB a ticket; see docs/printing.md for the timings.

`NetworkPrinter` sends the bytes over raw TCP (port 9100), `SerialPrinter` over a serial port
(pyserial), both with the connections in escpos_commands, and `UsbPrinter` straight over USB with
python-escpos's `Usb` class (pyusb), the only one that loads the library; each counts the ticket
as taken only when the printer answers a status request sent after it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from pathlib import Path

from notifier.core import escpos_commands as cmd
from notifier.core.ticket import BIG, CENTER, HUGE, NORMAL, Ticket, TicketLine

log = logging.getLogger(__name__)

DEFAULT_PORT = 9100
# python-escpos (loaded for a USB printer only) reads its printer database at import: a 1 MB file
# parsed by the pure-Python YAML parser (0.2-0.3 s of interpreter time, more on a busy machine)
# unless a pickle of it lies in this folder. Left unset, the library pickles it into a new
# temporary folder per process, so every start paid the parse again.
CAPABILITIES_CACHE_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"
# Dots across the paper at 203 dpi (the printable width of 58 and 80 mm rolls).
PAPER_DOTS = {"58mm": 384, "80mm": 576, "a4": 576}
QR_MODULE_DOTS = 6

_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    r"C:\Windows\Fonts\msyh.ttc",
    r"C:\Windows\Fonts\simhei.ttf",
    r"C:\Windows\Fonts\simsun.ttc",
)


class PrinterProblem(Exception):
    """The printer did not take a ticket; the message is a sentence for the owner."""

    def __init__(self, sentence: str, *, offline: bool = True):
        super().__init__(sentence)
        self.offline = offline


class PrinterHoldsTicket(PrinterProblem):
    """The printer read the whole ticket (it answered the status request sent after it) but
    reports itself offline: cover open, paper out, an error it will recover from. The ticket is
    in its buffer and comes out when it is ready again; sending it again would print it twice."""


def offline_sentence() -> str:
    from notifier.core.i18n import tr

    return tr("The printer reports that it is offline (cover open or an error).")


def parse_address(address: str) -> tuple[str, int]:
    """("10.0.0.5", 9100) from "10.0.0.5" or "10.0.0.5:9100" (or "[::1]:9100")."""
    text = address.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError("no printer host")
    number = int(port) if port else DEFAULT_PORT
    if not 0 < number < 65536:
        raise ValueError(f"port {number} out of range")
    return host, number


# Character sizes as GS ! (every character; width and height factors in the high and low
# nibbles) and FS ! (the double-byte font's own double width and height, bits 2 and 3). Not
# ESC !, which common Chinese printers apply to the one-byte font only: an "enlarged" remark
# would print its Chinese at normal size (the library's `set(double_width=…)` sends ESC !).
GS_SIZE = {NORMAL: b"\x1d!\x00", BIG: b"\x1d!\x11", HUGE: b"\x1d!\x22"}
FS_SIZE = {NORMAL: b"\x1c!\x00", BIG: b"\x1c!\x0c", HUGE: b"\x1c!\x0c"}
# What stands for a character the printer's GB18030 (in practice GBK) font does not have: in
# GB18030 such a character is a four-byte sequence, which the printer prints as two garbage
# characters. The ticket has turned emoji into words already; this catches the rest (rare CJK).
UNPRINTABLE = "□"
_printable_chars: dict[str, bool] = {}


def _size(out: bytearray, size: str) -> None:
    out += GS_SIZE[size] + FS_SIZE[size]


def gbk_printable(text: str) -> str:
    """`text` with every character the printer's double-byte font lacks as UNPRINTABLE."""
    if text.isascii():
        return text
    out = []
    for char in text:
        known = _printable_chars.get(char)
        if known is None:
            try:
                known = len(char.encode("gb18030")) <= 2
            except UnicodeEncodeError:
                known = False
            if len(_printable_chars) < 20_000:
                _printable_chars[char] = known
        out.append(char if known else UNPRINTABLE)
    return "".join(out)


def _text(out: bytearray, text: str) -> None:
    # GB18030 always, never the library's single-byte code pages: a line with only "¥" or "—"
    # would otherwise switch the printer's code page (ESC t) in the middle of a Chinese ticket.
    out += gbk_printable(text).encode("gb18030", "replace")


def capabilities_cache() -> Path:
    """The owner-only folder kept for python-escpos's parsed printer database."""
    from notifier.core import paths
    from notifier.core.private_files import private_folder

    return private_folder(paths.cache_dir() / "escpos")


def load_escpos() -> None:
    """Import python-escpos (for a USB printer) with its printer database cached between starts (see
    CAPABILITIES_CACHE_ENV); a folder the user chose through the variable is kept."""
    if "escpos.capabilities" not in sys.modules and CAPABILITIES_CACHE_ENV not in os.environ:
        try:
            os.environ[CAPABILITIES_CACHE_ENV] = str(capabilities_cache())
        except OSError as exc:  # no cache: the library parses its database, as before
            log.info("no cache folder for the printer database: %s", exc)
    import escpos.printer  # noqa: F401 - loaded here, once, for the `from escpos...` below


def _line(out: bytearray, line: TicketLine) -> None:
    out += cmd.style(align=line.align, bold=line.bold)
    _size(out, line.size)
    _text(out, line.text)
    if line.tail:
        _size(out, line.tail_size)
        _text(out, line.tail)
    out += b"\n"


def render_escpos(ticket: Ticket, *, paper: str = "80mm", chinese: str = "gb18030") -> bytes:
    """The bytes that print `ticket` and cut the paper."""
    out = bytearray(cmd.INIT)
    if chinese == "image":
        out += cmd.raster_image(ticket_image(ticket, PAPER_DOTS.get(paper, 576)))
    else:
        out += cmd.CHINESE_MODE
        for line in ticket.lines:
            _line(out, line)
        _size(out, NORMAL)
        out += cmd.style(align="left", bold=False)
    if ticket.qr:
        out += cmd.style(align=CENTER)
        out += cmd.qr(ticket.qr, size=QR_MODULE_DOTS)
        out += cmd.style(align="left")
    out += cmd.FEED_AND_CUT
    return bytes(out)


def find_cjk_font() -> str | None:
    override = os.environ.get("NOTIFIER_TICKET_FONT")
    if override and Path(override).is_file():
        return override
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None


_FONTS: dict[tuple[str | None, int], object] = {}


def _bold_variant(path: str | None) -> str | None:
    if path and "Regular" in path and Path(path.replace("Regular", "Bold")).is_file():
        return path.replace("Regular", "Bold")
    return path


def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    path = find_cjk_font()
    if bold:
        path = _bold_variant(path)
    key = (path, size)
    if key not in _FONTS:
        if path is None:
            log.warning("no Chinese font found for image tickets; Chinese text will be missing")
            _FONTS[key] = ImageFont.load_default(size)
        else:
            _FONTS[key] = ImageFont.truetype(path, size)
    return _FONTS[key]


def ticket_image(ticket: Ticket, width: int):
    """The ticket's lines drawn in black on white, `width` dots wide (1 bit per dot)."""
    from PIL import Image, ImageDraw

    base = max(16, width // 24)
    heights = {NORMAL: base, BIG: base * 2, HUGE: base * 3}
    rows: list[tuple[TicketLine, int]] = [(line, max(heights[line.size],
                                                   heights[line.tail_size] if line.tail else 0))
                                          for line in ticket.lines]
    total = sum(int(h * 1.25) for _line_, h in rows) + base
    image = Image.new("1", (width, total), 1)
    draw = ImageDraw.Draw(image)
    y = 0
    for line, row_height in rows:
        if line.text and set(line.text) == {"-"}:  # a rule: a drawn line, edge to edge
            middle = y + row_height // 2
            draw.line((0, middle, width, middle), fill=0, width=2)
            y += int(row_height * 1.25)
            continue
        parts = [(line.text, heights[line.size])]
        if line.tail:
            parts.append((line.tail, heights[line.tail_size]))
        widths = [draw.textlength(text, font=_font(h, line.bold)) for text, h in parts]
        x = {"center": (width - sum(widths)) / 2, "right": width - sum(widths)}.get(line.align, 0)
        for (text, h), w in zip(parts, widths, strict=True):
            draw.text((max(0, x), y + row_height - h), text, font=_font(h, line.bold), fill=0)
            x += w
        y += int(row_height * 1.25)
    return image


class EscposPrinter:
    """What every ESC/POS printer shares: the ticket's bytes, the paper check when a connection
    opens, and the status request after each ticket that counts it as taken. A subclass only
    says how to reach the printer (`_connect`, returning an opened connection with `write`,
    `query` and `close`: one from escpos_commands, or `LibraryUsbConnection`)."""

    def __init__(self, *, paper: str = "80mm", chinese: str = "gb18030", timeout: float = 5.0):
        self.paper = paper
        self.chinese = chinese
        self.timeout = timeout
        self._device = None

    def label(self) -> str:
        raise NotImplementedError

    def render(self, ticket: Ticket) -> bytes:
        return render_escpos(ticket, paper=self.paper, chinese=self.chinese)

    def _connect(self):
        raise NotImplementedError

    def prepare(self) -> None:
        """Load what the tickets need now (the print worker calls this as it starts), not at
        the first ticket, where it would hold the interpreter while that order's popup is being
        shown: the imaging library for image tickets (text tickets need nothing more)."""
        if self.chinese == "image":
            import PIL.ImageDraw  # noqa: F401 - loaded here for ticket_image
            import PIL.ImageOps  # noqa: F401 - loaded here for escpos_commands.raster_image

    def open(self) -> None:
        self._device = self._connect()
        try:
            self._check_paper()
        except BaseException:
            self.close()  # the printer serves one connection at a time: never leave it held
            raise

    def _check_paper(self) -> None:
        from notifier.core.i18n import tr

        # A printer that reports its paper sensor: an empty roll keeps the tickets queued.
        if cmd.paper_out(self._device):
            raise PrinterProblem(tr("The printer is out of paper."), offline=False)
        # Nothing is sent to a printer that says it is offline: it would keep the ticket in its
        # buffer, and we could not tell that from a ticket lost.
        if not cmd.is_online(self._device):
            raise PrinterProblem(offline_sentence())

    def send(self, data: bytes) -> None:
        """Send one ticket; returns once the printer confirmed it received all of it."""
        self._device.write(data)
        # A status request after the ticket is answered only once the printer has read up to
        # it: the answer is the printer's receipt. A hung printer never answers (timeout).
        if not cmd.is_online(self._device):
            raise PrinterHoldsTicket(offline_sentence())

    def ready(self) -> bool:
        """Whether the printer reports itself online now (asked on the open connection; an
        OSError when it is gone). After PrinterHoldsTicket: True once it printed its buffer."""
        return cmd.is_online(self._device)

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.close()
            except OSError:
                pass
            self._device = None


class NetworkPrinter(EscposPrinter):
    """A thermal printer on raw TCP port 9100. One connection at a time, opened by `open`."""

    def __init__(self, address: str, *, paper: str = "80mm", chinese: str = "gb18030",
                 timeout: float = 5.0):
        super().__init__(paper=paper, chinese=chinese, timeout=timeout)
        self.host, self.port = parse_address(address)

    def label(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self):
        device = cmd.TcpPrinterConnection(self.host, self.port, timeout=self.timeout)
        device.open()
        # The status request after a ticket is a 3-byte write: without TCP_NODELAY, Nagle's
        # algorithm holds it until the printer's delayed ACK (~40 ms a ticket).
        device.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return device


DEFAULT_BAUD = 9600


def parse_serial_address(address: str) -> tuple[str, int]:
    """("/dev/ttyUSB0", 9600) from "/dev/ttyUSB0" or "/dev/ttyUSB0:9600" (or "COM3:19200")."""
    text = address.strip()
    path, colon, baud = text.rpartition(":")
    if not colon or not baud.isdigit():
        path, baud = text, ""
    if not path:
        raise ValueError("no serial device")
    number = int(baud) if baud else DEFAULT_BAUD
    if not 300 <= number <= 921600:
        raise ValueError(f"baud rate {number} out of range")
    return path, number


def parse_usb_address(address: str) -> tuple[int, int]:
    """(0x0416, 0x5011) from "0416:5011" (the vendor and product ids, in hex, as lsusb shows)."""
    vendor, colon, product = address.strip().lower().partition(":")
    try:
        ids = int(vendor, 16), int(product, 16)
    except ValueError:
        ids = (-1, -1)
    if not colon or not all(0 <= n <= 0xFFFF for n in ids):
        raise ValueError("a USB printer is written VID:PID in hex, e.g. 0416:5011")
    return ids


class SerialPrinter(EscposPrinter):
    """A thermal printer on a serial port (or a USB-serial adapter: /dev/ttyUSB0, COM3)."""

    def __init__(self, address: str, *, paper: str = "80mm", chinese: str = "gb18030",
                 timeout: float = 5.0):
        super().__init__(paper=paper, chinese=chinese, timeout=timeout)
        self.path, self.baud = parse_serial_address(address)

    def label(self) -> str:
        return f"{self.path}:{self.baud}"

    def _connect(self):
        from serial import SerialException

        from notifier.core.i18n import tr

        device = cmd.SerialPrinterConnection(self.path, baudrate=self.baud, timeout=self.timeout)
        try:
            device.open()
        except (ValueError, SerialException) as exc:
            code = getattr(exc, "errno", None)
            if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
                raise PrinterProblem(tr("No printer at {path}: the device does not exist "
                                        "(unplugged or switched off?).").format(path=self.path)) from exc
            if code in (errno.EACCES, errno.EPERM):
                raise PrinterProblem(tr("Permission denied for {path}: add this user to the "
                                        "dialout group, then log in again.").format(path=self.path)) from exc
            raise PrinterProblem(tr("Could not open the printer at {path}: {problem}").format(
                path=self.path, problem=str(exc).splitlines()[-1])) from exc
        return device


class LibraryUsbConnection:
    """python-escpos's `Usb` printer seen as a connection (`write`, `query`, `close`)."""

    def __init__(self, device):
        self.device = device

    def write(self, data: bytes) -> None:
        self.device._raw(data)

    def query(self, request: bytes) -> bytes:
        return self.device.query_status(request)

    def close(self) -> None:
        self.device.close()


class UsbPrinter(EscposPrinter):
    """A thermal printer that speaks USB itself (no serial adapter), found by VID:PID."""

    def __init__(self, address: str, *, paper: str = "80mm", chinese: str = "gb18030",
                 timeout: float = 5.0):
        super().__init__(paper=paper, chinese=chinese, timeout=timeout)
        self.vendor, self.product = parse_usb_address(address)

    def label(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"

    def prepare(self) -> None:
        super().prepare()
        load_escpos()  # python-escpos's `Usb` reaches the printer

    def _problem(self, exc: BaseException) -> PrinterProblem:
        from notifier.core.i18n import tr

        code = getattr(exc, "errno", None)
        if code in (errno.EACCES, errno.EPERM):
            return PrinterProblem(tr("Permission denied for the USB printer {id}: add this user to "
                                     "the lp group or install the udev rule from the printing "
                                     "guide.").format(id=self.label()))
        if code in (errno.ENODEV, errno.ENOENT, errno.EIO) or exc is None:
            return PrinterProblem(tr("No USB printer {id} found: is it plugged in and switched "
                                     "on?").format(id=self.label()))
        if code == errno.ETIMEDOUT:
            return PrinterProblem(tr("The USB printer {id} did not answer.").format(id=self.label()))
        return PrinterProblem(tr("The USB printer {id} failed: {problem}").format(
            id=self.label(), problem=str(exc).splitlines()[-1] if str(exc) else type(exc).__name__))

    def _connect(self):
        import usb.core
        load_escpos()
        from escpos.exceptions import DeviceNotFoundError
        from escpos.printer import Usb

        from notifier.core.i18n import tr

        device = Usb(self.vendor, self.product, timeout=int(self.timeout * 1000))
        try:
            device.open()
        except DeviceNotFoundError as exc:
            cause = exc.__cause__ or exc.__context__
            raise self._problem(None if isinstance(cause, AssertionError) else cause) from exc
        except usb.core.NoBackendError as exc:
            raise PrinterProblem(tr("USB printing needs libusb, which is not installed.")) from exc
        return LibraryUsbConnection(device)

    def send(self, data: bytes) -> None:
        import usb.core

        try:
            super().send(data)
        except usb.core.USBError as exc:
            raise self._problem(exc) from exc

    def open(self) -> None:
        import usb.core

        try:
            super().open()
        except usb.core.USBError as exc:  # the paper check, on a printer that went away
            raise self._problem(exc) from exc

    def ready(self) -> bool:
        import usb.core

        try:
            return super().ready()
        except usb.core.USBError as exc:
            raise self._problem(exc) from exc


def make_escpos_printer(kind: str, address: str, **options) -> EscposPrinter:
    """The printer for a `printer.kind` of escpos_network, escpos_serial or escpos_usb."""
    classes = {"escpos_network": NetworkPrinter, "escpos_serial": SerialPrinter,
               "escpos_usb": UsbPrinter}
    return classes[kind](address, **options)
