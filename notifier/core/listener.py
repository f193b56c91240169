"""`notifier listen`: the sources and the ledger with no GUI, one JSON object per line on stdout.

Every connection of the settings that is on (or those chosen with `--connection NAME`) runs at
once; each order line and each connection line names its connection (`"connection":"美团"`; an
order's is empty when there is only one connection).

How operators debug a shop's connection, and how end-to-end tests watch the core.

Each order line is marked told in the ledger once it is written and flushed; at start, orders a
crash left stored but unprinted are printed first (with `"late":true`, their text noted as
received while the app was stopping). Exactly once, except for one window: a kill after the flush but before the told
mark is in the told log (one `write` right after the flush, a few microseconds; see
`Ledger.mark_told`) prints that order again at the next start, noted as late. Printed twice
rather than never: the mark is only ever written after the line.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from typing import TextIO

from notifier.core import paths
from notifier.core.connection import ConnectionStatus
from notifier.core.events import OrderEvent
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings

log = logging.getLogger(__name__)

SIGNAL_CHECK_S = 0.5
EXPIRE_EVERY_S = 3600.0


class JsonLinesOutput:
    """Writes one JSON object per line, whole lines only, from any thread."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, obj: dict) -> bool:
        """True once the line is flushed to the stream."""
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                return False  # the reader went away; the ledger still has everything
        return True

    def order(self, event: OrderEvent, *, late: bool = False) -> bool:
        """`late`: stored before the last stop but never printed (the line says `"late":true`)."""
        line = event.to_json_dict()
        if late:
            line["late"] = True
        return self.write(line)

    def details(self, event: OrderEvent) -> bool:
        """An order's details came after its line (sky-take-out's admin API): the same order's
        fields again, now with its amount, customer, items, remark, phone and address, as an
        `"event":"details"` line."""
        line = event.to_json_dict()
        line["event"] = "details"
        return self.write(line)

    def status(self, connection: str, status: ConnectionStatus) -> None:
        """One connection's state, with the connection's name (`"connection":"美团"`)."""
        self.write({**status.to_json_dict(), "connection": connection})

    def ended(self, source: str, server: str, order_id: str, how: str, reason: str | None,
              connection: str = "") -> bool:
        """The back end said what became of an order (another PC accepted or rejected it, the
        customer cancelled it): `{"event":"ended","order_id":..,"how":"accepted_elsewhere"}`.
        Before, a listener printed nothing when a PC decided, so an operator watching a shop
        could not tell a decided order from one still waiting. `connection`: the name of the
        order's connection, as on its order line."""
        return self.write({"event": "ended", "order_id": order_id, "how": how, "reason": reason,
                           "source": source, "server": server, "connection": connection})

    def progressed(self, source: str, server: str, order_id: str, state: str,
                   connection: str = "") -> bool:
        """An order went on after 接单 on a PC of the shop (派送, 完成, 取消):
        `{"event":"state","order_id":..,"state":"delivering"}` (an order_state value)."""
        return self.write({"event": "state", "order_id": order_id, "state": state,
                           "source": source, "server": server, "connection": connection})


def _start_printing(settings: Settings, ledger: Ledger):
    """Kitchen tickets on a network printer, when the settings ask for them (docs/printing.md)."""
    from notifier.core.print_worker import start_printing

    return start_printing(settings, ledger.path)


def run_listener(
    settings: Settings,
    secrets: SecretStore,
    *,
    ledger_path=None,
    stream: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    output = JsonLinesOutput(stream or sys.stdout)
    ledger = Ledger(ledger_path or paths.ledger_file())
    ledger.expire(settings["ledger.retention_days"])
    intake = OrderIntake(ledger, secrets)

    starting = True  # only `tell_untold` below tells anything while this is set

    def tell(event: OrderEvent) -> None:
        if output.order(event, late=starting):
            ledger.mark_told([event.key])  # after the flush: a lost mark prints twice, never zero times

    intake.on_order(tell)
    intake.on_connection_status(output.status)
    intake.on_details(output.details)

    def connection_name(source: str, server: str, order_id: str, connection_id: str) -> str:
        """The name its order line gave the order's connection (two branches may both have
        an order 1001: the line says whose ended)."""
        order = ledger.order(source, server, order_id, connection_id=connection_id)
        return order.connection if order is not None else ""

    intake.on_ended(lambda source, server, order_id, how, reason, connection_id: output.ended(
        source, server, order_id, how, reason, connection_name(source, server, order_id, connection_id)))
    intake.on_progress(lambda source, server, order_id, state, connection_id: output.progressed(
        source, server, order_id, state, connection_name(source, server, order_id, connection_id)))
    printer = _start_printing(settings, ledger)
    if printer is not None:
        intake.on_order(lambda _event: printer.wake())
        intake.on_ended(lambda *_ending: printer.wake())  # a cancellation queues a void ticket
    intake.tell_untold()
    starting = False
    stop = stop or threading.Event()

    def _on_signal(signum, _frame):
        log.info("signal %s: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    intake.start(settings)
    try:
        # Short waits: a SIGTERM the kernel hands to another thread only sets Python's flag, and
        # the main thread runs the handler when it next runs Python code, not while it sleeps in
        # a long wait (seen: a listener that ignored SIGTERM for good, now and then).
        next_expiry = time.monotonic() + EXPIRE_EVERY_S
        while not stop.wait(SIGNAL_CHECK_S):
            if time.monotonic() >= next_expiry:
                ledger.expire(settings["ledger.retention_days"])
                next_expiry = time.monotonic() + EXPIRE_EVERY_S
    finally:
        intake.stop()
        if printer is not None:
            printer.stop(timeout=2.0)
            printer.queue.close()
        ledger.close()
    return 0
