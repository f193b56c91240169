"""Kitchen tickets in the running app: the print queue, its worker, and what the owner is told.

The queue lives in the ledger's file and fills itself when an order is stored (see
`notifier.core.print_queue`); this object opens it, keeps its configuration in step with the
settings, runs one worker for the configured printer, and turns the worker's state into the
tray's "printer offline — N tickets waiting" line and one spoken sentence per outage.

The worker runs on its own thread; its status reaches the Qt main thread through a queued
signal, like the order connection's.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QCoreApplication, QObject, Signal

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.print_queue import PrintQueue, printer_label
from notifier.core.print_worker import PrintWorker, network_driver

log = logging.getLogger(__name__)

PRINTER_KEYS_RESTART = ("printer.kind", "printer.address", "printer.paper", "printer.chinese",
                        "printer.timeout")
OFFLINE_ANNOUNCEMENT_KEY = "printer-offline"


def make_driver(settings):
    if settings["printer.kind"] == "system":
        from notifier.desktop.system_printer import SystemPrinter

        return SystemPrinter(settings["printer.address"], paper=settings["printer.paper"])
    return network_driver(settings)


def print_test_page_now(settings, language: str) -> str | None:
    """Print a test ticket straight to the printer `settings` name (not through the queue):
    None when the printer took it, else the sentence that says why not. Blocks for up to the
    printer's timeout: call it off the GUI thread (the settings dialog's "Print test page")."""
    from notifier.core.escpos_printer import PrinterProblem
    from notifier.core.reconnect import describe_network_error
    from notifier.core.ticket import build_ticket
    from notifier.core.wording import sample_event

    try:
        driver = make_driver(settings)
    except ValueError as exc:
        return QCoreApplication.translate("Printing", "The printer address is not usable: {problem}").format(
            problem=exc)
    ticket = build_ticket(sample_event(), settings, language=language, test_page=True)
    try:
        data = driver.render(ticket)
        driver.open()
        try:
            driver.send(data)
        finally:
            driver.close()
    except PrinterProblem as exc:
        return str(exc)
    except OSError as exc:
        return describe_network_error(exc, driver.label())
    return None


def printing_wanted(settings) -> bool:
    return settings["printer.print_on"] != "off" and (
        settings["printer.kind"] == "system" or bool(settings["printer.address"].strip()))


class PrintDesk(QObject):
    """Owns the print queue and its worker for the app."""

    status_changed = Signal(object)  # ConnectionStatus of the printer, on the main thread
    problem_changed = Signal(str)  # the tray line ("" when printing is fine)

    def __init__(self, queue: PrintQueue, settings, *, announce=None, parent: QObject | None = None):
        """`queue`: opened and configured before the order source starts, so the first order
        of the run already queues its ticket."""
        super().__init__(parent)
        self.settings = settings
        self.queue = queue
        self.queue.configure(settings)
        self._announce = announce
        self._announced = False
        self.problem = ""
        self.worker: PrintWorker | None = None
        self.status_changed.connect(self._on_status)
        self._start_worker()

    # -- the worker ----------------------------------------------------------------------

    def _start_worker(self) -> None:
        # Started when printing is on, and also when jobs wait from an earlier run or a reprint.
        if not (printing_wanted(self.settings) or self.queue.waiting(printer_label(self.settings))):
            return
        try:
            driver = make_driver(self.settings)
        except ValueError as exc:  # an address that is not one: said in the tray, not raised
            log.warning("printer address not usable: %s", exc)
            self._show_problem(self._sentence(ConnectionStatus(
                ConnState.MISCONFIGURED, self.settings["printer.address"], str(exc))))
            return
        self.worker = PrintWorker(self.settings, self.queue, driver, self.status_changed.emit)
        self.worker.start()

    def wake(self, *_args) -> None:
        """An order was stored (any thread): its ticket may be waiting."""
        worker = self.worker
        if worker is not None:
            worker.wake()

    def apply_settings(self, settings) -> None:
        old, self.settings = self.settings, settings
        self.queue.configure(settings)
        if self.worker is None or any(old[k] != settings[k] for k in PRINTER_KEYS_RESTART) \
                or old["printer.print_on"] != settings["printer.print_on"]:
            self._restart()
        else:
            self.worker.settings = settings  # template changes apply to the next ticket

    def _restart(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            # Stopping joins the worker's thread, which may be inside a send: not on this thread.
            threading.Thread(target=worker.stop, name="printer-stop", daemon=True).start()
        self._start_worker()

    def reprint(self, entry_id: int) -> int:
        added = self.queue.enqueue_reprint(entry_id, self.settings)
        if self.worker is None:
            self._start_worker()
        self.wake()
        return added

    def print_test_page(self) -> None:
        self.queue.enqueue_test_page(self.settings)
        if self.worker is None:
            self._start_worker()
        self.wake()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=2.0)
            self.worker = None
        self.queue.close()

    # -- telling the owner ---------------------------------------------------------------

    def _sentence(self, status: ConnectionStatus) -> str:
        waiting = self.queue.waiting()
        return QCoreApplication.translate(
            "Printing", "Printer offline — {count} tickets waiting ({reason})").format(
                count=waiting, reason=status.problem())

    def _on_status(self, status: ConnectionStatus) -> None:
        if status.state is ConnState.CONNECTED or status.state is ConnState.STOPPED:
            self._announced = False
            self._show_problem("")
            return
        if status.state is not ConnState.WAITING or not self.queue.waiting():
            return
        sentence = self._sentence(status)
        self._show_problem(sentence)
        if not self._announced and self._announce is not None:
            self._announced = True  # once per outage: a printer down for an hour is said once
            self._announce(QCoreApplication.translate(
                "Printing", "The printer is offline; {count} tickets are waiting.").format(
                    count=self.queue.waiting()), key=OFFLINE_ANNOUNCEMENT_KEY)

    def _show_problem(self, sentence: str) -> None:
        if sentence != self.problem:
            self.problem = sentence
            self.problem_changed.emit(sentence)
