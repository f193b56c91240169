"""Kitchen tickets in the running app: the print queue, its worker, and what the owner is told.

The queue lives in the ledger's file and fills itself when an order is stored (see
`notifier.core.print_queue`); this object opens it, keeps its configuration in step with the
settings, runs one worker per station's printer (core/stations.py), and turns each worker's state
into the tray's "printer offline — N tickets waiting" line (named by the station when there are
several) and one spoken sentence per outage.

The worker runs on its own thread; its status reaches the Qt main thread through a queued
signal, like the order connection's. The worker's modules (tickets, ESC/POS, ~0.9 MB) are
imported when a station's worker starts: a shop without a printer never loads them.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, Signal

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.print_queue import PrintQueue, printer_label
from notifier.core.stations import STATIONS, station_name, station_settings, used_stations

if TYPE_CHECKING:
    from notifier.core.print_worker import PrintWorker

log = logging.getLogger(__name__)

PRINTER_KEYS_RESTART = ("printer.kind", "printer.address", "printer.paper", "printer.chinese",
                        "printer.timeout")
OFFLINE_ANNOUNCEMENT_KEY = "printer-offline"


def make_driver(settings):
    if settings["printer.kind"] == "system":
        from notifier.desktop.system_printer import SystemPrinter

        return SystemPrinter(settings["printer.address"], paper=settings["printer.paper"])
    from notifier.core.print_worker import network_driver

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
    """Owns the print queue and one worker per station's printer for the app (core/stations.py):
    each station has its own queue (jobs are keyed by printer), its own worker and its own line
    in the tray, so a printer that hangs holds up only its own station."""

    status_changed = Signal(int, object)  # (station, ConnectionStatus of its printer), main thread
    problem_changed = Signal(str)  # the tray lines, one per station in trouble ("" when all print)

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
        self._problems: dict[int, str] = {}
        self.workers: dict[int, PrintWorker] = {}
        self.status_changed.connect(self._on_status)
        for station in used_stations(settings):
            self._start_worker(station)

    @property
    def worker(self) -> PrintWorker | None:
        """The first station's worker (the counter's, in a shop with one printer)."""
        return self.workers.get(1)

    # -- the workers ---------------------------------------------------------------------

    def _start_worker(self, station: int) -> None:
        view = station_settings(self.settings, station)
        # Started when printing is on, and also when jobs wait from an earlier run or a reprint.
        if not (printing_wanted(view) or self.queue.waiting(printer_label(view))):
            return
        try:
            driver = make_driver(view)
        except ValueError as exc:  # an address that is not one: said in the tray, not raised
            log.warning("printer address not usable: %s", exc)
            self._show_problem(station, self._sentence(station, ConnectionStatus(
                ConnState.MISCONFIGURED, view["printer.address"], str(exc))))
            return
        from notifier.core.print_worker import PrintWorker

        worker = PrintWorker(view, self.queue, driver, lambda status, n=station: self.status_changed.emit(n, status))
        self.workers[station] = worker
        worker.start()

    def wake(self, *_args) -> None:
        """An order was stored (any thread): its tickets may be waiting."""
        for worker in list(self.workers.values()):
            worker.wake()

    def apply_settings(self, settings) -> None:
        old, self.settings = self.settings, settings
        self.queue.configure(settings)
        for station in STATIONS:
            before, after = station_settings(old, station), station_settings(settings, station)
            worker = self.workers.get(station)
            wanted = station in used_stations(settings)
            if worker is None or not wanted or any(before[k] != after[k] for k in PRINTER_KEYS_RESTART) \
                    or before["printer.print_on"] != after["printer.print_on"]:
                self._restart(station, wanted)
            else:
                worker.settings = after  # template changes apply to the next ticket

    def _restart(self, station: int, wanted: bool = True) -> None:
        worker = self.workers.pop(station, None)
        if worker is not None:
            # Stopping joins the worker's thread, which may be inside a send: not on this thread.
            threading.Thread(target=worker.stop, name="printer-stop", daemon=True).start()
        self._show_problem(station, "")
        if wanted:
            self._start_worker(station)

    def reprint(self, entry_id: int) -> int:
        added = self.queue.enqueue_reprint(entry_id, self.settings)
        if self.worker is None:
            self._start_worker(1)
        self.wake()
        return added

    def print_test_page(self, station: int = 1) -> None:
        self.queue.enqueue_test_page(self.settings, station)
        if station not in self.workers:
            self._start_worker(station)
        self.wake()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop(timeout=2.0)
        self.workers = {}
        self.queue.close()

    # -- telling the owner ---------------------------------------------------------------

    def _sentence(self, station: int, status: ConnectionStatus) -> str:
        waiting = self.queue.waiting(printer_label(station_settings(self.settings, station)))
        sentence = QCoreApplication.translate(
            "Printing", "Printer offline — {count} tickets waiting ({reason})").format(
                count=waiting, reason=status.problem())
        if len(used_stations(self.settings)) == 1:
            return sentence
        return f"{station_name(self.settings, station)}: {sentence}"

    def _on_status(self, station: int, status: ConnectionStatus) -> None:
        if status.state is ConnState.CONNECTED or status.state is ConnState.STOPPED:
            self._show_problem(station, "")
            if not self.problem:
                self._announced = False
            return
        printer = printer_label(station_settings(self.settings, station))
        if status.state is not ConnState.WAITING or not self.queue.waiting(printer):
            return
        self._show_problem(station, self._sentence(station, status))
        if not self._announced and self._announce is not None:
            self._announced = True  # once per outage: a printer down for an hour is said once
            self._announce(QCoreApplication.translate(
                "Printing", "The printer is offline; {count} tickets are waiting.").format(
                    count=self.queue.waiting(printer)), key=OFFLINE_ANNOUNCEMENT_KEY)

    def _show_problem(self, station: int, sentence: str) -> None:
        if sentence:
            self._problems[station] = sentence
        else:
            self._problems.pop(station, None)
        combined = "\n".join(self._problems[n] for n in sorted(self._problems))
        if combined != self.problem:
            self.problem = combined
            self.problem_changed.emit(combined)
