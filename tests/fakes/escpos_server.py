"""A network receipt printer played on 127.0.0.1: records the bytes, answers status requests.

Like a real ESC/POS printer on port 9100 it takes one TCP connection at a time, prints what it
reads, and answers the real-time status requests (DLE EOT 1 / 4). It can also misbehave the ways
shop printers do: `refuse()` (switched off: connection refused), `hang()` (accepts and never
reads, like a jammed print server) and `come_back()`; what a hung printer never read is lost, as
on a printer that is power-cycled. `out_of_paper` makes it report an empty roll.
`offline_after_ticket = S` makes it report itself offline (cover open) for S seconds after each
ticket it reads, as a printer whose cover is opened right after printing; what it read stays
printed (a real printer prints its buffer when the cover closes). `cut_power()` drops the
connection it serves, as a printer switched off.

`tickets()` cuts the recorded stream at each paper cut and decodes a ticket's text as GB18030
with the commands removed, so tests compare what a person would read.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass

DLE_EOT = b"\x10\x04"
CUT = b"\x1dV"
ONLINE_OK, ONLINE_ERROR = 0x12, 0x1A
PAPER_OK, PAPER_OUT = 0x12, 0x72


@dataclass
class Ticket:
    raw: bytes
    received_at: float

    @property
    def text(self) -> str:
        return ticket_text(self.raw)

    @property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.splitlines() if line.strip()]

    @property
    def qr_contents(self) -> list[str]:
        return qr_payloads(self.raw)


def qr_payloads(raw: bytes) -> list[str]:
    """The data of every native QR code store command (GS ( k … 1 P 0 DATA)."""
    found = []
    for match in re.finditer(rb"\x1d\(k(..)1P0", raw, re.S):
        length = match.group(1)[0] + 256 * match.group(1)[1] - 3
        start = match.end()
        found.append(raw[start:start + length].decode("utf-8", "replace"))
    return found


# Command lengths after the command bytes, for what the ticket renderer sends.
_FIXED = {b"\x1b@": 0, b"\x1c&": 0, b"\x1c!": 1, b"\x1bE": 1, b"\x1ba": 1, b"\x1b!": 1, b"\x1d!": 1,
          b"\x1bd": 1, b"\x1bt": 1, b"\x1b-": 1, b"\x1bM": 1, b"\x1bG": 1, b"\x1b{": 1,
          b"\x1dB": 1, b"\x1dV": 1, b"\x1b3": 1, b"\x1b2": 0, b"\x10\x04": 1}


def _walk(raw: bytes):
    """(start, end, is_command) for each command or text byte, as a printer parses the stream."""
    i = 0
    while i < len(raw):
        two = raw[i:i + 2]
        if two == b"\x1d(" and i + 4 < len(raw):  # GS ( k pL pH data
            end = i + 5 + raw[i + 3] + 256 * raw[i + 4]
        elif two == b"\x1dv" and i + 7 < len(raw):  # GS v 0 m xL xH yL yH raster
            end = i + 8 + (raw[i + 4] + 256 * raw[i + 5]) * (raw[i + 6] + 256 * raw[i + 7])
        elif two in _FIXED:
            end = i + 2 + _FIXED[two]
        else:
            yield i, i + 1, False
            i += 1
            continue
        if end > len(raw):
            return  # a command still arriving: the rest of it comes with the next read
        yield i, end, True
        i = end


def strip_commands(raw: bytes) -> bytes:
    return b"".join(raw[start:end] for start, end, command in _walk(raw) if not command)


def cut_offsets(raw: bytes) -> list[int]:
    """Where each paper cut command ends in the stream."""
    return [end for start, end, command in _walk(raw) if command and raw[start:start + 2] == CUT]


def ticket_text(raw: bytes) -> str:
    return strip_commands(raw).decode("gb18030", "replace")


class EscposPrinterServer:
    def __init__(self, port: int = 0):
        self.port = port
        self.received = bytearray()
        # Per connection: its bytes and (bytes received so far, when) for each read. A ticket
        # cut short by a dropped connection stays in its own segment, never glued to the next.
        self._segments: list[tuple[bytearray, list[tuple[int, float]]]] = []
        self._parsed: dict[int, tuple[int, list[Ticket]]] = {}
        self._lock = threading.Lock()
        self._mode = "ok"
        self.out_of_paper = False
        self.offline_after_ticket: float | None = None
        self._offline_until = 0.0
        self._cut_power = threading.Event()
        self.status_requests = 0  # DLE EOT 1 (online?) answered
        self.connections = 0
        self._listener: socket.socket | None = None
        self._hung: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------

    def start(self) -> EscposPrinterServer:
        self._listen()
        return self

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        sock.listen(8)
        sock.settimeout(0.1)
        self._listener = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True)
        self._thread.start()

    def _unlisten(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._listener:
            self._listener.close()
            self._listener = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def refuse(self) -> None:
        """Switched off: nothing listens on the port."""
        self._mode = "refuse"
        self._unlisten()

    def hang(self) -> None:
        """Accept connections, never read from them."""
        if self._listener is None:
            self._listen()
        self._mode = "hang"

    def come_back(self) -> None:
        """Back to normal; what hung connections held is dropped (the printer was restarted)."""
        self._mode = "ok"
        for conn in self._hung:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
            except OSError:
                pass
        self._hung.clear()
        if self._listener is None:
            self._listen()

    def cut_power(self) -> None:
        """Drop the connection being served (the printer was switched off and on)."""
        self._cut_power.set()

    def close_cover(self) -> None:
        """Online again now (it prints what it holds)."""
        self._offline_until = 0.0

    @property
    def offline(self) -> bool:
        return time.monotonic() < self._offline_until

    def stop(self) -> None:
        self._unlisten()
        self.come_back_quietly()

    def come_back_quietly(self) -> None:
        for conn in self._hung:
            conn.close()
        self._hung.clear()

    # -- what was printed ------------------------------------------------------------------

    def tickets(self) -> list[Ticket]:
        with self._lock:
            segments = [(bytes(data), list(arrivals)) for data, arrivals in self._segments]
        tickets = []
        for number, (data, arrivals) in enumerate(segments):
            # Parsed once: a segment only grows, so only what follows its last cut is read again.
            start, done = self._parsed.get(number, (0, []))
            index, base = 0, start
            for end in cut_offsets(data[base:]):
                end += base
                while index < len(arrivals) and arrivals[index][0] < end:
                    index += 1
                when = arrivals[index][1] if index < len(arrivals) else time.monotonic()
                done = done + [Ticket(data[start:end], when)]
                start = end
            self._parsed[number] = (start, done)
            tickets.extend(done)
        return tickets

    def torn(self) -> int:
        """Connections that ended in the middle of a ticket (bytes after the last cut)."""
        with self._lock:
            segments = [bytes(data) for data, _arrivals in self._segments]
        return sum(1 for data in segments if strip_commands(data[(cut_offsets(data) or [0])[-1]:]).strip())

    def wait_for_tickets(self, count: int, timeout: float = 10.0) -> list[Ticket]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.tickets()
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"{len(self.tickets())} tickets printed, {count} expected within {timeout} s")

    # -- serving -----------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self._mode == "hang":
                self._hung.append(conn)
                continue
            # One connection at a time, like the printer: the next waits in the backlog.
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        pending = b""
        with self._lock:
            self._segments.append((bytearray(), []))
            segment = self._segments[-1]
        self._cut_power.clear()
        with conn:
            while not self._stop.is_set() and self._mode == "ok":
                if self._cut_power.is_set():
                    self._cut_power.clear()
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                pending += chunk
                # Keep the tail that might be a status request split across reads.
                if pending.endswith(DLE_EOT) or pending.endswith(b"\x10"):
                    continue
                self._record(pending, conn, segment)
                pending = b""

    def _record(self, data: bytes, conn: socket.socket, segment) -> None:
        kinds = []
        while len(data) >= 3 and data[-3:-1] == DLE_EOT:
            kinds.insert(0, data[-1])
            data = data[:-3]
        with self._lock:
            cuts_before = len(cut_offsets(bytes(segment[0]))) if self.offline_after_ticket else 0
            self.received += data
            segment[0].extend(data)
            segment[1].append((len(segment[0]), time.monotonic()))
            if self.offline_after_ticket and len(cut_offsets(bytes(segment[0]))) > cuts_before:
                self._offline_until = time.monotonic() + self.offline_after_ticket
        reply = b""
        for kind in kinds:
            if kind == 1:
                self.status_requests += 1
                reply += bytes([ONLINE_ERROR if self.offline else ONLINE_OK])
            elif kind == 4:
                reply += bytes([PAPER_OUT if self.out_of_paper else PAPER_OK])
        if reply:
            conn.sendall(reply)
