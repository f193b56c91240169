"""The few ESC/POS commands a kitchen ticket uses, written out as bytes, and the printer on TCP.

python-escpos costs ~15 MB of memory for as long as the app runs (its base class imports PIL,
qrcode, python-barcode and parses a 1 MB printer database at import), and no part of it can be
imported alone: every printer class, even `Network`, is built on that base class. A ticket needs
seven commands, so they are here, byte for byte what the library sent (tests/core/
test_escpos_commands.py compares them with it). The library is loaded only for a printer on USB
(`UsbPrinter`), whose device handling (endpoints, kernel driver, configuration) it does for us.
"""

from __future__ import annotations

import socket

ESC = b"\x1b"
FS = b"\x1c"
GS = b"\x1d"
INIT = ESC + b"@"
CHINESE_MODE = FS + b"&"  # GB18030/GBK two-byte characters
ALIGN = {"left": ESC + b"a\x00", "center": ESC + b"a\x01", "right": ESC + b"a\x02"}
BOLD = {False: ESC + b"E\x00", True: ESC + b"E\x01"}
FEED_AND_CUT = ESC + b"d\x06" + GS + b"V\x00"  # feed 6 lines (past the cutter), full cut
STATUS_ONLINE = b"\x10\x04\x01"  # DLE EOT 1: printer status
STATUS_PAPER = b"\x10\x04\x04"  # DLE EOT 4: paper sensor
_OFFLINE_BIT = 0x08
_NO_PAPER = 0x72  # the sensor bits the library reads as "no paper" (0x60 roll end + fixed bits)
# The library's limit for one raster image: taller images go as several, one after another.
IMAGE_FRAGMENT_ROWS = 960


def style(align: str | None = None, bold: bool | None = None) -> bytes:
    """Bold, then alignment, as python-escpos's `set(align=…, bold=…)` sent them."""
    return (BOLD[bold] if bold is not None else b"") + (ALIGN[align] if align is not None else b"")


def _two_bytes(number: int) -> bytes:
    return number.to_bytes(2, "little")


def _qr_part(function: int, data: bytes, modifier: bytes = b"") -> bytes:
    return GS + b"(k" + _two_bytes(len(data) + len(modifier) + 2) + b"1" + bytes((function,)) \
        + modifier + data


def qr(content: str, *, size: int) -> bytes:
    """A QR code (model 2, error correction L, `size` dots a module) drawn by the printer."""
    if not content:
        return b""
    if not 1 <= size <= 16:
        raise ValueError("a QR module is 1-16 dots")
    return (_qr_part(65, b"2\x00") + _qr_part(67, bytes((size,))) + _qr_part(69, b"0")
            + _qr_part(80, content.encode("utf-8"), b"0") + _qr_part(81, b"", b"0"))


def raster_image(image) -> bytes:
    """A PIL image as GS v 0 raster bit images (black where the picture is dark), in pieces of
    at most IMAGE_FRAGMENT_ROWS rows."""
    from PIL import Image, ImageOps

    out = []
    for top in range(0, image.height, IMAGE_FRAGMENT_ROWS):
        piece = image.crop((0, top, image.width, min(top + IMAGE_FRAGMENT_ROWS, image.height)))
        rgba = piece.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.split()[3])
        bits = ImageOps.invert(flat.convert("L")).convert("1")
        out.append(GS + b"v0\x00" + _two_bytes((bits.width + 7) // 8) + _two_bytes(bits.height)
                   + bits.tobytes())
    return b"".join(out)


def is_online(device) -> bool:
    """Whether the printer answers the status request and reports itself online. `device` is
    anything with `query(request) -> answer` (the connections below, or escpos_printer's wrapper
    of python-escpos's `Usb`)."""
    status = device.query(STATUS_ONLINE)
    return bool(status) and not status[0] & _OFFLINE_BIT


def paper_out(device) -> bool:
    """Whether the paper sensor reports the roll empty (no answer: a printer without one)."""
    status = device.query(STATUS_PAPER)
    return bool(status) and status[0] & _NO_PAPER == _NO_PAPER


class TcpPrinterConnection:
    """A raw TCP connection to a printer's port 9100."""

    def __init__(self, host: str, port: int, *, timeout: float):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.device: socket.socket | None = None

    def open(self) -> None:
        """Connect; an OSError (refused, unreachable, timed out) when the printer is not there."""
        self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)

    def write(self, data: bytes) -> None:
        assert self.device is not None
        self.device.sendall(data)

    def query(self, request: bytes) -> bytes:
        """Send a status request; the answer (empty when the printer closed the connection)."""
        self.write(request)
        assert self.device is not None
        return self.device.recv(16)

    def close(self) -> None:
        if self.device is None:
            return
        try:
            self.device.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.device.close()
        self.device = None


class SerialPrinterConnection:
    """A printer on a serial port (pyserial), 8N1 with DSR/DTR flow control, as python-escpos
    opened it."""

    def __init__(self, path: str, *, baudrate: int, timeout: float):
        self.path = path
        self.baudrate = baudrate
        self.timeout = timeout
        self.device = None

    def open(self) -> None:
        """Open the port; pyserial's SerialException (with the errno) or ValueError when not."""
        import serial

        self.device = serial.Serial(port=self.path, baudrate=self.baudrate, timeout=self.timeout,
                                    dsrdtr=True)

    def write(self, data: bytes) -> None:
        assert self.device is not None
        self.device.write(data)

    def query(self, request: bytes) -> bytes:
        """Send a status request; the answer (empty when the port's timeout passed)."""
        self.write(request)
        # A status answer is one byte: asking the port for more would wait out the whole
        # timeout for bytes that never come, on every ticket.
        assert self.device is not None
        return self.device.read(1)

    def close(self) -> None:
        if self.device is None:
            return
        if self.device.is_open:
            self.device.flush()
            self.device.close()
        self.device = None
