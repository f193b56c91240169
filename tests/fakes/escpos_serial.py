"""A serial receipt printer played on a pseudo-terminal: records the bytes, answers status requests.

The driver opens the terminal's slave side (`path`) with pyserial exactly as it opens
/dev/ttyUSB0; this peer reads the master side, keeps what it reads, and answers the real-time
status requests (DLE EOT 1 / 4) as `EscposPrinterServer` does. `tickets()` cuts the stream at
each paper cut, like the network fake.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

from tests.fakes.escpos_server import DLE_EOT, ONLINE_OK, PAPER_OK, PAPER_OUT, Ticket, cut_offsets
from tests.fakes.util import wait_until


class SerialPrinterPeer:
    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: a wire, not a terminal
        self.path = os.ttyname(self._slave)
        self.received = bytearray()
        self.out_of_paper = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="serial-printer", daemon=True)

    def start(self) -> SerialPrinterPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave)

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                pending += os.read(self.master, 65536)
            except OSError:  # nobody has the port open right now
                time.sleep(0.02)
                continue
            # A status request is 3 bytes; wait for all of it before recording.
            if pending.endswith(DLE_EOT) or pending.endswith(b"\x10"):
                continue
            reply = b""
            while len(pending) >= 3 and pending[-3:-1] == DLE_EOT:
                kind = pending[-1]
                if kind == 1:
                    reply = bytes([ONLINE_OK]) + reply
                elif kind == 4:
                    reply = bytes([PAPER_OUT if self.out_of_paper else PAPER_OK]) + reply
                pending = pending[:-3]
            with self._lock:
                self.received += pending
            pending = b""
            if reply:
                os.write(self.master, reply)

    def tickets(self) -> list[Ticket]:
        with self._lock:
            data = bytes(self.received)
        tickets, start = [], 0
        for end in cut_offsets(data):
            tickets.append(Ticket(data[start:end], time.monotonic()))
            start = end
        return tickets

    def wait_for_tickets(self, count: int, timeout: float = 10.0) -> list[Ticket]:
        wait_until(lambda: len(self.tickets()) >= count, timeout)
        return self.tickets()
