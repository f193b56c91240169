"""`notifier print-test`: print a test ticket on the configured printer now, and say how it went.

The printer comes from the settings (`--config`, `--set printer.address=…` and friends), so a
shop can try a printer before saving it. The test page goes straight to the printer, not
through the print queue: it answers "does this printer work?" with a sentence and an exit
status (0 printed, 1 not printed, 2 nothing to print on). It also says how many tickets wait
in the queue of this computer's order history.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from notifier.commands.parser import UsageError
from notifier.commands.settings_flags import add_connection_flags
from notifier.core.i18n import tr
from notifier.core.launch import Launch


def add_print_test_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("print-test", help="print a test ticket on the configured printer "
                                             "(printer.kind, printer.address; see --set)")
    cmd.add_argument("--save-bytes", metavar="FILE",
                     help="also write the ESC/POS bytes of the test ticket to FILE")
    add_connection_flags(cmd, subcommand=True)
    cmd.set_defaults(func=cmd_print_test, uses_settings=True)


def _driver(settings):
    if settings["printer.kind"] == "system":
        try:
            from notifier.desktop.app import needs_offscreen
            from notifier.desktop.system_printer import SystemPrinter
        except ImportError as exc:
            raise UsageError(tr("System printers need the desktop app: {error}", error=exc)) from None
        if needs_offscreen():
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtGui import QGuiApplication

        cmd_print_test.app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
        return SystemPrinter(settings["printer.address"], paper=settings["printer.paper"])
    if not settings["printer.address"].strip():
        raise UsageError(tr("No printer address is set: use --set printer.address=HOST:9100."))
    from notifier.core.print_worker import network_driver

    try:
        return network_driver(settings)
    except ValueError as exc:
        raise UsageError(tr("The printer address {address!r} is not usable: {problem}",
                            address=settings["printer.address"], problem=exc)) from None


def _waiting_line(launch: Launch) -> str | None:
    from notifier.core import paths
    from notifier.core.print_queue import PrintQueue, PrintQueueError

    path = launch.ledger_path or paths.ledger_file()
    if not os.path.exists(path):
        return None
    try:
        queue = PrintQueue(path)
    except PrintQueueError:
        return None
    try:
        return tr("{count} tickets wait in the print queue.", count=queue.waiting())
    finally:
        queue.close()


def cmd_print_test(args: argparse.Namespace, launch: Launch) -> int:
    from notifier.core.escpos_printer import PrinterProblem
    from notifier.core.i18n import language
    from notifier.core.reconnect import classify_network_error
    from notifier.core.ticket import build_ticket
    from notifier.core.wording import sample_event

    settings = launch.settings
    driver = _driver(settings)
    ticket = build_ticket(sample_event(), settings, language=language(), test_page=True)
    data = driver.render(ticket)
    if args.save_bytes and isinstance(data, bytes):
        with open(args.save_bytes, "wb") as out:
            out.write(data)
    started = time.perf_counter()
    try:
        driver.open()
        try:
            driver.send(data)
        finally:
            driver.close()
    except PrinterProblem as exc:
        print(tr("Not printed on {printer}: {problem}", printer=driver.label(), problem=exc),
              file=sys.stderr)
        return 1
    except OSError as exc:
        _state, reason = classify_network_error(exc)
        print(tr("Not printed on {printer}: {problem}", printer=driver.label(), problem=reason),
              file=sys.stderr)
        return 1
    took_ms = (time.perf_counter() - started) * 1000
    print(tr("Test ticket printed on {printer} in {ms} ms.", printer=driver.label(), ms=round(took_ms)))
    waiting = _waiting_line(launch)
    if waiting:
        print(waiting)
    return 0
