"""The print queue: an outbox of kitchen tickets in the ledger's own SQLite file.

A ticket job is written in the same transaction as the order it prints: a trigger on the
ledger's `events` table (declared with the ledger's schema, `ledger_schema`) inserts one job per copy when a new order is stored and the shop prints
on new orders, or when this PC accepts it and the shop prints on accept (`print_stations`, one row per station,
written from the settings by `configure`). So a crash can never
leave an order stored without its ticket queued, and the ledger's code needs no change.

When the customer cancels an order (a `cancelled` event of it is stored, or its alert ends as
`cancelled`), two more triggers act in that same transaction: a ticket of the order that went
to a printer (printed, or in doubt) gets a 作废 (void) job on that printer, so a kitchen that is
cooking it is told to stop; a ticket still waiting is dropped, so it is never printed at all.

Each job has an idempotency key (order key | kind | copy), goes `waiting` → `sending` → `done`,
and is marked done only after the printer took it. A job found in `sending` at start-up was being
sent when the app died: the printer may or may not have it. It is sent again (never dropped) with
an "in doubt" mark on the ticket, so a kitchen that finds two knows why; see docs/printing.md
for how small that window is.

The queue has its own connection to the file (WAL: readers never block the ledger's writer);
one worker per printer takes jobs in id order, which is the order the orders were stored in.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from notifier.core.ledger import LedgerEntry, read_entry
from notifier.core.ledger_schema import MAX_COPIES
from notifier.core.outbox_file import OutboxFile
from notifier.core.stations import in_use, station_settings, used_stations

log = logging.getLogger(__name__)

KIND_ORDER, KIND_REPRINT, KIND_TEST, KIND_VOID = "order", "reprint", "test", "void"
WAITING, SENDING, DONE, DROPPED = "waiting", "sending", "done", "dropped"
# Done jobs are kept this long (to answer "was it printed?"), then removed.
KEEP_DONE_DAYS = 7


class PrintQueueError(RuntimeError):
    """The print queue cannot be read or written."""


@dataclass(frozen=True, slots=True)
class PrintJob:
    id: int
    key: str
    kind: str  # KIND_ORDER, KIND_REPRINT, KIND_TEST or KIND_VOID
    copy: int
    copies: int
    printer: str
    in_doubt: bool  # it was being sent when the app stopped: the printer may have it already
    attempts: int
    entry: LedgerEntry | None  # the order (None: a test page, or the order has expired)
    created_at: float

    @property
    def reprint(self) -> bool:
        return self.kind == KIND_REPRINT or self.in_doubt


def printer_kind_text(kind: str) -> str:
    """A `printer.kind` in the owner's words (what the doctor says), never the setting's value."""
    from notifier.core.i18n import tr

    return {"escpos_network": tr("receipt printer on the network"),
            "escpos_serial": tr("receipt printer on a serial port"),
            "escpos_usb": tr("receipt printer on USB"),
            "system": tr("printer of this computer")}.get(kind, kind)


def printer_label(settings) -> str:
    """The identity of the configured printer, e.g. "escpos_network:10.0.0.5:9100"."""
    return f"{settings['printer.kind']}:{settings['printer.address'].strip()}"


class PrintQueue(OutboxFile):
    table, name, error = "print_jobs", "the print queue", PrintQueueError

    # -- configuration -------------------------------------------------------------------

    def configure(self, settings) -> None:
        """Store when to print and on which printer of each station (core/stations.py), for the
        triggers; waiting jobs follow the printer their station now uses (the old one is usually
        why it changed)."""
        rows = []
        for station in used_stations(settings):
            view = station_settings(settings, station)
            # No printer to send to: do not pile up jobs nobody will print.
            print_on = settings["printer.print_on"] if in_use(settings, station) else "off"
            rows.append((station, print_on, min(MAX_COPIES, view["printer.copies"]), printer_label(view)))

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM print_stations")
            db.executemany("INSERT INTO print_stations(station, print_on, copies, printer) VALUES (?, ?, ?, ?)",
                           rows)
            db.execute("UPDATE print_jobs SET printer=(SELECT s.printer FROM print_stations AS s "
                       "WHERE s.station=print_jobs.station) WHERE state='waiting' "
                       "AND station IN (SELECT station FROM print_stations)")

        self._transaction(work)

    # -- adding jobs by hand -------------------------------------------------------------

    def enqueue_reprint(self, entry_id: int, settings, copies: int = 1) -> int:
        """Queue a reprint of a stored order (the orders window's "Reprint"); how many jobs."""
        row = self._execute("SELECT key FROM events WHERE id=?", (entry_id,)).fetchone()
        if row is None:
            return 0
        stamp = f"{self._clock():.6f}"
        added = 0
        for copy in range(1, copies + 1):
            added += self._execute(
                "INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, "
                "printer, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (f"{row[0]}|reprint|{stamp}|{copy}", entry_id, row[0], KIND_REPRINT, copy, copies,
                 printer_label(settings), self._clock())).rowcount
        return added

    def enqueue_test_page(self, settings, station: int = 1) -> None:
        """Queue a test page (a sample order) for the station's printer."""
        stamp = f"{self._clock():.6f}"
        self._execute(
            "INSERT INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, station, "
            "created_at) VALUES (?, NULL, ?, ?, 1, 1, ?, ?, ?)",
            (f"test|{station}|{stamp}", "test", KIND_TEST, printer_label(station_settings(settings, station)),
             station, self._clock()))

    # -- the worker's side ---------------------------------------------------------------

    def next_job(self, printer: str) -> PrintJob | None:
        """The oldest job for this printer that is not done yet."""
        row = self._execute(
            "SELECT j.id, j.key, j.kind, j.copy, j.copies, j.printer, j.in_doubt, j.attempts, "
            "j.created_at, j.event_id FROM print_jobs AS j "
            "WHERE j.printer=? AND j.state IN ('waiting', 'sending') ORDER BY j.id LIMIT 1",
            (printer,)).fetchone()
        if row is None:
            return None
        (id_, key, kind, copy, copies, printer_, in_doubt, attempts, created, event_id) = row
        entry = None
        if event_id is not None:
            entry = self._read(lambda db: read_entry(db, event_id))
        return PrintJob(id_, key, kind, copy, copies, printer_, bool(in_doubt), attempts, entry, created)

    def mark_sending(self, job_id: int) -> None:
        """Before the first byte goes out: from here until `mark_done` the job is in doubt."""
        self._execute("UPDATE print_jobs SET state='sending', attempts=attempts+1 WHERE id=?", (job_id,))

    def mark_done(self, job_id: int) -> None:
        self._execute("UPDATE print_jobs SET state='done', done_at=?, last_error=NULL WHERE id=?",
                      (self._clock(), job_id))

    def mark_failed(self, job_id: int, error: str, *, in_doubt: bool) -> None:
        """The printer did not confirm it: waiting again, for the next attempt. `in_doubt`: some
        of it went out, so the printer may have printed it (a hung printer that wakes up)."""
        self._execute("UPDATE print_jobs SET state='waiting', last_error=?, "
                      "in_doubt=MAX(in_doubt, ?) WHERE id=?", (error[:300], int(in_doubt), job_id))

    def drop(self, job_id: int, why: str) -> None:
        self._execute("UPDATE print_jobs SET state='dropped', last_error=?, done_at=? WHERE id=?",
                      (why[:300], self._clock(), job_id))

    # -- reading -------------------------------------------------------------------------

    def waiting(self, printer: str | None = None) -> int:
        """Tickets not yet printed (on this printer, or on any)."""
        if printer is None:
            sql, params = "SELECT COUNT(*) FROM print_jobs WHERE state IN ('waiting', 'sending')", ()
        else:
            sql = "SELECT COUNT(*) FROM print_jobs WHERE printer=? AND state IN ('waiting', 'sending')"
            params = (printer,)
        return self._execute(sql, params).fetchone()[0]

    def order_printed(self, order_key: str) -> bool | None:
        """Whether every ticket of the order (its `order` jobs) is printed: None when it has none
        (yet), False while one waits (auto-accept waits for the kitchen's ticket)."""
        states = [row[0] for row in self._execute(
            "SELECT state FROM print_jobs WHERE event_key=? AND kind='order'", (order_key,)).fetchall()]
        if not states:
            return None
        return all(state == DONE for state in states)

    def expire(self) -> int:
        cutoff = self._clock() - KEEP_DONE_DAYS * 86400
        return self._execute("DELETE FROM print_jobs WHERE state IN ('done', 'dropped') AND done_at < ?",
                             (cutoff,)).rowcount

