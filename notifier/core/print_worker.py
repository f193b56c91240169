"""The worker that empties the print queue onto one printer, in order, exactly once where it can.

It runs on the reconnect loop every peer uses (`reconnect.ReconnectLoop`, thread "print-worker"),
with a printer for a peer. The thread lives only while tickets wait (the loop's `has_work`): it
starts when the worker starts (tickets left from the last run print at once) and on `wake` (a
ticket was queued), and ends a moment (`IDLE_CLOSE_S`) after the last one printed. `connect`
opens the printer; `pump` sends the waiting tickets oldest first,
each marked `sending` before its first byte and `done` only after the printer confirmed it;
any failure leaves the ticket waiting and the loop retries with the same backoff the order
connection uses. Its status (connected / waiting to retry and why) is what the tray shows as
"printer offline — N tickets waiting".

A printer that reads a ticket and then reports itself offline (its cover was opened, the roll
ran out) holds the ticket in its buffer and prints it when it is ready again: that ticket is not
sent again. The worker keeps the connection, asks the printer's status every `hold_poll_s`, says
"printer offline" meanwhile, and counts the ticket printed once the printer reports ready. Only
when the connection is lost while it waits (the printer was switched off: its buffer may be
gone) is the ticket sent again, once the printer reports ready, marked 补打: at most one reprint
per outage.

A printer driver is anything with `label()`, `open()`, `render(ticket)`, `send(data)` and
`close()`: the `escpos_printer` classes here, the Qt system printer in the desktop layer. One
whose `send` can raise PrinterHoldsTicket also has `ready()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.escpos_printer import PrinterHoldsTicket, PrinterProblem
from notifier.core.i18n import language
from notifier.core.print_queue import (
    KIND_ORDER,
    KIND_TEST,
    KIND_VOID,
    PrintJob,
    PrintQueue,
    printer_label,
)
from notifier.core.reconnect import (
    IDLE,
    OnReconnectLoop,
    ReconnectLoop,
    classify_network_error,
    wait_for_work,
)
from notifier.core.settings import Settings
from notifier.core.stations import routed
from notifier.core.ticket import Ticket, build_ticket
from notifier.core.wording import sample_event

log = logging.getLogger(__name__)

# A connection with nothing to print is closed after this long: a network printer takes one
# connection at a time, and another PC in the shop may want it.
IDLE_CLOSE_S = 2.0
# While an order's details are on their way (OrderEvent.details_wait_s), its ticket is looked
# at again this often.
DETAILS_POLL_S = 0.05
# While the connection is open, look for new jobs this often even without a nudge.
POLL_S = 1.0
# How often a printer holding a ticket while offline is asked whether it is ready again.
HOLD_POLL_S = 0.5


class PrinterDriver(Protocol):
    def label(self) -> str: ...
    def prepare(self) -> None: ...  # load what printing needs; once, as the worker starts
    def open(self) -> None: ...
    def render(self, ticket: Ticket) -> Any: ...
    def send(self, data: Any) -> None: ...
    def close(self) -> None: ...


def ticket_for(job: PrintJob, settings: Settings) -> Ticket | None:
    """What to print for `job`, or None when there is nothing: its order is no longer in the
    ledger, or this printer's station makes none of its dishes (stations.routed)."""
    if job.kind == KIND_TEST:
        return build_ticket(sample_event(), settings, language=language(), test_page=True)
    event = routed(job.entry.event, settings) if job.entry is not None else None
    if event is None:
        return None
    if job.kind == KIND_VOID:  # the customer cancelled an order the kitchen has
        return build_ticket(event, settings, language=language(), void=True,
                            reason=job.entry.end_reason, reprint=job.in_doubt,
                            printed_at=datetime.now())
    return build_ticket(event, settings, language=language(), reprint=job.reprint,
                        copy=job.copy, copies=job.copies, printed_at=datetime.now())


class PrintWorker(OnReconnectLoop):
    def __init__(
        self,
        settings: Settings,
        queue: PrintQueue,
        driver: PrinterDriver,
        on_status: Callable[[ConnectionStatus], None] = lambda _s: None,
        *,
        on_printed: Callable[[PrintJob], None] = lambda _j: None,
    ):
        self.settings = settings
        self.driver = driver
        self.queue = queue
        self.printer = printer_label(settings)
        self.on_printed = on_printed
        self._nudge = threading.Event()
        self.printed = 0  # tickets the printer confirmed, for tests and diagnostics
        self.hold_poll_s = HOLD_POLL_S
        self.idle_close_s = IDLE_CLOSE_S
        self._prepared = False
        self.loop = ReconnectLoop(self, on_status, name="print-worker", has_work=self._has_work)

    # -- for the owner (and OnReconnectLoop's start, stop, status) -----------------------

    def wake(self) -> None:
        """A job was queued (or may have been): print it now; starts the thread if it had ended."""
        self._nudge.set()
        self.loop.work_queued()

    def _wait_for_job(self, seconds: float) -> bool:
        return wait_for_work(lambda: self.queue.waiting(self.printer), self._nudge, seconds,
                             lambda: self.stopping, POLL_S)

    # -- the loop's link (reconnect.Link) ------------------------------------------------

    def server_label(self) -> str:
        return self.driver.label()

    def interrupt(self) -> None:
        self._nudge.set()

    def _has_work(self) -> bool:
        """The loop asks before each connection; False ends its thread until `wake`."""
        if not self._prepared:
            self._prepared = True
            try:
                self.driver.prepare()
            except Exception:  # noqa: BLE001 - open() meets the same problem and reports it
                log.exception("could not load the printer driver ahead of the first ticket")
        if self.queue.waiting(self.printer):
            return True
        try:
            self.queue.expire()  # going idle: forget tickets printed more than a week ago
        except Exception:  # noqa: BLE001 - housekeeping must not stop the printing
            log.exception("could not expire old print jobs")
        # Idle and nothing owed: all is well, though no connection is open.
        self.publish(self.connected_status())
        return False

    def connect(self) -> PrinterDriver:
        if self.stopping:
            raise InterruptedError("stopped")
        self.publish(ConnectionStatus(ConnState.CONNECTING, self.server_label()))
        self.driver.open()
        return self.driver

    @staticmethod
    def _details_pending(job: PrintJob) -> bool:
        """The order's details (amount, items, remark) are still on their way (its source said
        so on the event): its ticket waits for them, as long as the event's rule says."""
        return job.kind == KIND_ORDER and job.entry is not None and job.entry.event.details_wait_s() > 0

    def pump(self, driver: PrinterDriver) -> str:
        while not self.stopping:
            job = self.queue.next_job(self.printer)
            if job is None:
                if not self._wait_for_job(self.idle_close_s):
                    return IDLE  # back to waiting for a job, at once
                continue
            if self._details_pending(job):
                self.loop.wait_stopped(DETAILS_POLL_S)  # then look at the order again
                continue
            ticket = ticket_for(job, self.settings)
            if ticket is None:
                self.queue.drop(job.id, "nothing to print here: the order is no longer in the history, "
                                        "or has no dish for this station")
                continue
            data = driver.render(ticket)
            self.queue.mark_sending(job.id)
            try:
                try:
                    driver.send(data)
                except PrinterHoldsTicket as held:
                    self._wait_until_ready(driver, str(held))
            except BaseException as exc:
                self.queue.mark_failed(job.id, f"{type(exc).__name__}: {exc}", in_doubt=True)
                raise
            self.queue.mark_done(job.id)
            self.printed += 1
            try:
                self.on_printed(job)
            except Exception:  # noqa: BLE001 - the ticket is printed; an observer cannot undo it
                log.exception("print observer failed")
        return "stopped"

    def _wait_until_ready(self, driver, reason: str) -> None:
        """The printer holds the ticket just sent and is offline: wait on this connection until
        it reports ready (it then prints its buffer), saying meanwhile that it is offline. Raises
        when the connection is lost, InterruptedError when the worker is stopping."""
        self.publish(ConnectionStatus(ConnState.WAITING, self.server_label(), reason,
                                      self.hold_poll_s, ConnState.UNREACHABLE))
        while not driver.ready():
            if self.loop.wait_stopped(self.hold_poll_s):
                raise InterruptedError("stopped while the printer was offline")
        self.publish(self.connected_status())

    def disconnect(self, driver: PrinterDriver, clean: bool) -> None:
        driver.close()

    def classify(self, exc: BaseException) -> tuple[ConnState, str]:
        if isinstance(exc, InterruptedError):
            return ConnState.STOPPED, "stopped"
        if isinstance(exc, PrinterProblem):
            return ConnState.UNREACHABLE, str(exc)
        if isinstance(exc, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
            return ConnState.UNREACHABLE, "the printer dropped the connection"
        if isinstance(exc, OSError):
            return classify_network_error(exc)
        return ConnState.UNREACHABLE, f"{type(exc).__name__}: {str(exc)[:200]}"


def network_driver(settings: Settings):
    """The ESC/POS printer `settings` name: on the network, a serial port or USB."""
    from notifier.core.escpos_printer import make_escpos_printer

    return make_escpos_printer(settings["printer.kind"], settings["printer.address"],
                               paper=settings["printer.paper"], chinese=settings["printer.chinese"],
                               timeout=settings["printer.timeout"])


def start_printing(settings: Settings, ledger_path, on_status=lambda _s: None) -> PrintWorker | None:
    """The print queue and a worker for a process without Qt (`notifier listen`): network
    ESC/POS printers only; None when printing is off or the printer is a system one (the app prints on
    those). The queue is configured either way, so stored orders queue their tickets."""
    queue = PrintQueue(ledger_path)
    queue.configure(settings)
    wanted = settings["printer.print_on"] != "off" or queue.waiting(printer_label(settings))
    if not wanted or not settings["printer.kind"].startswith("escpos_") \
            or not settings["printer.address"].strip():
        queue.close()
        return None
    try:
        driver = network_driver(settings)
    except ValueError as exc:
        log.warning("printer address %r not usable: %s", settings["printer.address"], exc)
        queue.close()
        return None
    worker = PrintWorker(settings, queue, driver, on_status)
    worker.start()
    return worker
