"""The schema of the order history file, in one place: every table in it (the ledger's events
and cursors, the print queue, the action outbox), the triggers that tie them together, and the
numbered migrations that bring a file of any earlier version up to this one.

Why the outboxes' tables are declared here and not by their modules: a ticket job is written by
a trigger on `events` in the same transaction as the order (so a crash can never leave an order
without its ticket), which makes the print queue's tables part of the ledger's schema. Whoever
opens the file first (the ledger, the print queue, the action outbox, in any process) runs
`migrate`; it is one `BEGIN IMMEDIATE` transaction, so a second process finds the work done.

Each migration is a function of the connection, numbered by the version it produces; a file's
version is SQLite's `user_version`. Add a change as the next number, never edit an old one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable

from notifier.core.order_details import OrderDetails, OrderItem

log = logging.getLogger(__name__)

# Copies of one ticket the trigger can queue.
MAX_COPIES = 5

_EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    order_number TEXT,
    amount TEXT,
    currency TEXT NOT NULL,
    customer TEXT,
    text TEXT,
    occurred_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    source TEXT NOT NULL,
    server TEXT NOT NULL,
    event_id TEXT,
    raw TEXT NOT NULL,
    acknowledged_at REAL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE INDEX IF NOT EXISTS events_order ON events(source, server, order_id);
CREATE INDEX IF NOT EXISTS events_unacked ON events(received_at) WHERE acknowledged_at IS NULL;
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# Every outbox row goes waiting -> sending -> done (outbox_file.OutboxFile), with these columns.
_OUTBOX_ROW = """state TEXT NOT NULL DEFAULT 'waiting',
    in_doubt INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    done_at REAL"""
_COPY_NUMBERS = " UNION ALL ".join(f"SELECT {n} AS n" for n in range(1, MAX_COPIES + 1))



def _drop_waiting(order: str, now: str) -> str:
    """A cancelled order's tickets that still wait are dropped: never printed at all."""
    return f"""    UPDATE print_jobs SET state = 'dropped', done_at = {now},
        last_error = 'the customer cancelled the order before its ticket was printed'
    WHERE state = 'waiting' AND in_doubt = 0 AND kind IN ('order', 'reprint')
      AND event_key IN (SELECT o.key FROM events AS o WHERE o.kind = 'new_order' AND {order});"""


def _on_cancel(order: str, now: str) -> str:
    """The statements a cancellation of an order runs (in a trigger): a void job on every printer
    that has (or may have) its ticket, and its tickets that wait are dropped. `order`: a WHERE
    clause picking the order's new-order row `o`; `now`: when."""
    return f"""
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, created_at)
    SELECT o.key || '|void|' || t.printer, o.id, o.key, 'void', 1, 1, t.printer, {now}
    FROM events AS o JOIN (
        -- the printer that printed it, or the one the shop uses now if it switched since
        SELECT j.event_key, COALESCE((SELECT c.printer FROM print_config AS c WHERE c.id = 1),
                                     j.printer) AS printer
        FROM print_jobs AS j
        WHERE j.kind IN ('order', 'reprint') AND (j.state IN ('done', 'sending') OR j.in_doubt = 1)
    ) AS t ON t.event_key = o.key
    WHERE o.kind = 'new_order' AND {order};
{_drop_waiting(order, now)}"""


_PRINT_QUEUE = f"""
CREATE TABLE IF NOT EXISTS print_config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    print_on TEXT NOT NULL,
    copies INTEGER NOT NULL,
    printer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS print_jobs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    event_id INTEGER,
    event_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    copy INTEGER NOT NULL,
    copies INTEGER NOT NULL,
    printer TEXT NOT NULL,
    {_OUTBOX_ROW}
);
CREATE INDEX IF NOT EXISTS print_jobs_open ON print_jobs(printer, id) WHERE state IN ('waiting', 'sending');
CREATE TRIGGER IF NOT EXISTS print_new_orders AFTER INSERT ON events
WHEN NEW.kind = 'new_order'
BEGIN
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, created_at)
    SELECT NEW.key || '|order|' || k.n, NEW.id, NEW.key, 'order', k.n, c.copies, c.printer, NEW.received_at
    FROM print_config AS c JOIN ({_COPY_NUMBERS}) AS k ON k.n <= c.copies
    WHERE c.id = 1 AND c.print_on = 'new_order';
END;
-- "Print on accept": the ticket is queued in the transaction that records the acceptance on
-- this PC (not "accepted elsewhere": the PC that accepted prints it, once for the shop).
CREATE TRIGGER IF NOT EXISTS print_accepted_orders AFTER UPDATE OF ended_how ON events
WHEN NEW.kind = 'new_order' AND NEW.ended_how = 'accepted_here'
     AND OLD.ended_how IS NOT 'accepted_here'
BEGIN
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, created_at)
    SELECT NEW.key || '|order|' || k.n, NEW.id, NEW.key, 'order', k.n, c.copies, c.printer,
           COALESCE(NEW.ended_at, NEW.received_at)
    FROM print_config AS c JOIN ({_COPY_NUMBERS}) AS k ON k.n <= c.copies
    WHERE c.id = 1 AND c.print_on = 'accept';
END;
-- The customer cancelled: a cancellation event arrived, or the order's alert ended that way.
CREATE TRIGGER IF NOT EXISTS void_on_cancel_event AFTER INSERT ON events
WHEN NEW.kind = 'cancelled'
BEGIN{_on_cancel("o.source = NEW.source AND o.server = NEW.server AND o.order_id = NEW.order_id",
                 "NEW.received_at")}
END;
CREATE TRIGGER IF NOT EXISTS void_on_cancel_ending AFTER UPDATE OF ended_how ON events
WHEN NEW.kind = 'new_order' AND NEW.ended_how = 'cancelled' AND OLD.ended_how IS NOT 'cancelled'
BEGIN{_on_cancel("o.id = NEW.id", "COALESCE(NEW.ended_at, NEW.received_at)")}
END;
"""


_ACTION_OUTBOX = f"""
CREATE TABLE IF NOT EXISTS action_outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    server TEXT NOT NULL,
    order_id TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT,
    {_OUTBOX_ROW}
);
CREATE INDEX IF NOT EXISTS action_outbox_open ON action_outbox(target, id) WHERE state IN ('waiting', 'sending');
CREATE INDEX IF NOT EXISTS action_outbox_order ON action_outbox(source, server, order_id);
"""


def _add_column(db: sqlite3.Connection, table: str, name: str, kind: str) -> None:
    if name not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _script(db: sqlite3.Connection, script: str) -> None:
    """Run `script` statement by statement (executescript would commit the transaction);
    a trigger's body holds semicolons, so statements are split on SQLite's own completeness."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _v1_events(db: sqlite3.Connection) -> None:
    _script(db, _EVENTS)


def _v2_told(db: sqlite3.Connection) -> None:
    """`told_at`: whatever an older version stored, it told (or its moment has long passed);
    only events stored from now on can be "stored but not told"."""
    _add_column(db, "events", "told_at", "REAL")
    db.execute("UPDATE events SET told_at=received_at WHERE told_at IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS events_untold ON events(id) WHERE told_at IS NULL")


def _v3_endings_and_details(db: sqlite3.Connection) -> None:
    """How and when each alert ended, and the order's details (JSON)."""
    for name, kind in (("ended_how", "TEXT"), ("ended_at", "REAL"), ("end_reason", "TEXT"),
                       ("details", "TEXT")):
        _add_column(db, "events", name, kind)


def details_of_version_3(kept: dict) -> dict:
    """What version 3 kept of a sky-take-out order's details (its items as name / number /
    amount, the remark, phone and address) in the form of version 4 on."""
    items = kept.get("items") if isinstance(kept.get("items"), list) else []
    return OrderDetails.of(
        (OrderItem.of(i.get("name"), i.get("number"), i.get("amount"))
         for i in items if isinstance(i, dict)),
        remark=kept.get("remark"), phone=kept.get("phone"), address=kept.get("address"),
    ).to_json_dict()


def _v4_order_details(db: sqlite3.Connection) -> None:
    """`details` holds `OrderDetails` as every source decodes them: convert version 3's."""
    rows = db.execute("SELECT id, details FROM events WHERE details IS NOT NULL").fetchall()
    for id_, text in rows:
        try:
            kept = json.loads(text)
        except ValueError:
            kept = None
        converted = details_of_version_3(kept) if isinstance(kept, dict) else {}
        db.execute("UPDATE events SET details=? WHERE id=?",
                   (json.dumps(converted, ensure_ascii=False) if converted else None, id_))


def _v5_outboxes(db: sqlite3.Connection) -> None:
    """The print queue and the action outbox (files of version 4 may have them already: their
    modules used to create them)."""
    _script(db, _PRINT_QUEUE)
    _script(db, _ACTION_OUTBOX)


def _v6_details_due(db: sqlite3.Connection) -> None:
    """`details_due`: until when the source is still fetching the order's details (see
    events.OrderEvent.details_due); NULL when none are coming."""
    _add_column(db, "events", "details_due", "REAL")


def _v7_order_progress(db: sqlite3.Connection) -> None:
    """`events.progress`: how far an accepted order got (order_state: delivering, completed,
    cancelled by the shop); `action_outbox.prior_progress`: what it was before a 派送 / 完成 /
    取消 clicked here, put back if the back end refuses it."""
    _add_column(db, "events", "progress", "TEXT")
    _add_column(db, "action_outbox", "prior_progress", "TEXT")


def _on_cancel_by_station(order: str, now: str) -> str:
    """Version 8's cancellation (see `_on_cancel`): a void job on every station that has (or may
    have) the order's ticket — the station's printer now, the first station's if it was removed —
    and nowhere else; its tickets that wait are dropped."""
    return f"""
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, station, created_at)
    SELECT o.key || '|void|' || t.printer, o.id, o.key, 'void', 1, 1, t.printer, t.station, {now}
    FROM events AS o JOIN (
        SELECT DISTINCT j.event_key, j.station,
               COALESCE((SELECT s.printer FROM print_stations AS s WHERE s.station = j.station),
                        (SELECT s.printer FROM print_stations AS s WHERE s.station = 1),
                        j.printer) AS printer
        FROM print_jobs AS j
        WHERE j.kind IN ('order', 'reprint') AND (j.state IN ('done', 'sending') OR j.in_doubt = 1)
    ) AS t ON t.event_key = o.key
    WHERE o.kind = 'new_order' AND {order};
{_drop_waiting(order, now)}"""


# A ticket job's key: the first station keeps the key of earlier versions (order key|order|copy).
_STATION_KEY = "CASE WHEN c.station = 1 THEN '' ELSE c.station || '|' END || k.n"

_PRINT_STATIONS = f"""
CREATE TABLE IF NOT EXISTS print_stations (
    station INTEGER PRIMARY KEY,
    print_on TEXT NOT NULL,
    copies INTEGER NOT NULL,
    printer TEXT NOT NULL
);
INSERT OR IGNORE INTO print_stations(station, print_on, copies, printer)
    SELECT 1, print_on, copies, printer FROM print_config WHERE id = 1;
DROP TRIGGER IF EXISTS print_new_orders;
DROP TRIGGER IF EXISTS print_accepted_orders;
DROP TRIGGER IF EXISTS void_on_cancel_event;
DROP TRIGGER IF EXISTS void_on_cancel_ending;
DROP TABLE IF EXISTS print_config;
CREATE TRIGGER IF NOT EXISTS print_new_orders AFTER INSERT ON events
WHEN NEW.kind = 'new_order'
BEGIN
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, station, created_at)
    SELECT NEW.key || '|order|' || {_STATION_KEY}, NEW.id, NEW.key, 'order', k.n, c.copies, c.printer,
           c.station, NEW.received_at
    FROM print_stations AS c JOIN ({_COPY_NUMBERS}) AS k ON k.n <= c.copies
    WHERE c.print_on = 'new_order';
END;
CREATE TRIGGER IF NOT EXISTS print_accepted_orders AFTER UPDATE OF ended_how ON events
WHEN NEW.kind = 'new_order' AND NEW.ended_how = 'accepted_here'
     AND OLD.ended_how IS NOT 'accepted_here'
BEGIN
    INSERT OR IGNORE INTO print_jobs(key, event_id, event_key, kind, copy, copies, printer, station, created_at)
    SELECT NEW.key || '|order|' || {_STATION_KEY}, NEW.id, NEW.key, 'order', k.n, c.copies, c.printer,
           c.station, COALESCE(NEW.ended_at, NEW.received_at)
    FROM print_stations AS c JOIN ({_COPY_NUMBERS}) AS k ON k.n <= c.copies
    WHERE c.print_on = 'accept';
END;
CREATE TRIGGER IF NOT EXISTS void_on_cancel_event AFTER INSERT ON events
WHEN NEW.kind = 'cancelled'
BEGIN{_on_cancel_by_station("o.source = NEW.source AND o.server = NEW.server AND o.order_id = NEW.order_id",
                            "NEW.received_at")}
END;
CREATE TRIGGER IF NOT EXISTS void_on_cancel_ending AFTER UPDATE OF ended_how ON events
WHEN NEW.kind = 'new_order' AND NEW.ended_how = 'cancelled' AND OLD.ended_how IS NOT 'cancelled'
BEGIN{_on_cancel_by_station("o.id = NEW.id", "COALESCE(NEW.ended_at, NEW.received_at)")}
END;
"""


def _v8_print_stations(db: sqlite3.Connection) -> None:
    """A printer for each station (core/stations.py): `print_stations` replaces the one-row
    `print_config` (its row becomes station 1), each job knows its station, and the triggers
    queue one set of tickets per station and a void slip only on the stations that printed."""
    _add_column(db, "print_jobs", "station", "INTEGER NOT NULL DEFAULT 1")
    _script(db, _PRINT_STATIONS)


def _v9_connections(db: sqlite3.Connection) -> None:
    """`connection` / `connection_id`: which of the shop's connections an event came through
    (events.OrderEvent.connection); empty for everything stored before there were several."""
    _add_column(db, "events", "connection", "TEXT NOT NULL DEFAULT ''")
    _add_column(db, "events", "connection_id", "TEXT NOT NULL DEFAULT ''")


_CANCEL_BY_CONNECTION = f"""
DROP TRIGGER IF EXISTS void_on_cancel_event;
CREATE TRIGGER IF NOT EXISTS void_on_cancel_event AFTER INSERT ON events
WHEN NEW.kind = 'cancelled'
BEGIN{_on_cancel_by_station("o.source = NEW.source AND o.server = NEW.server AND o.order_id = NEW.order_id "
                            "AND o.connection_id = NEW.connection_id", "NEW.received_at")}
END;
"""


def _v10_orders_by_connection(db: sqlite3.Connection) -> None:
    """An order is known by its connection too (ledger.ORDER_COLUMNS): `action_outbox` keeps
    the connection of the order each action is for, and a cancellation voids the tickets of its
    own connection's order only. An action queued before gets its order's connection (the first
    stored, where version 9 had mixed two up) and that connection's worker target
    (order_actions.OrderActions: led by the connection's id), so one still waiting is sent."""
    _add_column(db, "action_outbox", "connection_id", "TEXT NOT NULL DEFAULT ''")
    db.execute(
        "UPDATE action_outbox SET connection_id = COALESCE((SELECT e.connection_id FROM events AS e "
        "WHERE e.source = action_outbox.source AND e.server = action_outbox.server AND "
        "e.order_id = action_outbox.order_id AND e.kind = 'new_order' ORDER BY e.id LIMIT 1), '')")
    db.execute("UPDATE action_outbox SET target = connection_id || '|' || target WHERE connection_id != ''")
    _script(db, _CANCEL_BY_CONNECTION)


_VOID_ON_SHOP_CANCEL = f"""
CREATE TRIGGER IF NOT EXISTS void_on_shop_cancel AFTER UPDATE OF state ON action_outbox
WHEN NEW.action = 'cancel' AND NEW.state = 'done' AND OLD.state IS NOT 'done'
BEGIN{_on_cancel_by_station("o.source = NEW.source AND o.server = NEW.server AND o.order_id = NEW.order_id "
                            "AND o.connection_id = NEW.connection_id", "COALESCE(NEW.done_at, NEW.created_at)")}
END;
CREATE TRIGGER IF NOT EXISTS void_on_cancel_progress AFTER UPDATE OF progress ON events
WHEN NEW.kind = 'new_order' AND NEW.progress = 'cancelled' AND OLD.progress IS NOT 'cancelled'
     AND NOT EXISTS (SELECT 1 FROM action_outbox AS a WHERE a.source = NEW.source
                     AND a.server = NEW.server AND a.order_id = NEW.order_id
                     AND a.connection_id = NEW.connection_id AND a.action = 'cancel'
                     AND a.state IN ('waiting', 'sending'))
BEGIN{_on_cancel_by_station("o.id = NEW.id", "NEW.received_at")}
END;
"""


def _v11_void_on_shop_cancel(db: sqlite3.Connection) -> None:
    """The shop's own 取消 voids the order's tickets like the customer's cancellation does: on
    this PC once the back end has confirmed it (the action done; 取消 is only a wish until then,
    and a refusal puts the order back where it was, tickets and all), on the shop's other PCs
    when they learn it (the order's progress becomes cancelled without a 取消 of their own
    waiting)."""
    _script(db, _VOID_ON_SHOP_CANCEL)


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1_events, _v2_told, _v3_endings_and_details, _v4_order_details, _v5_outboxes, _v6_details_due,
    _v7_order_progress, _v8_print_stations,
    _v9_connections, _v10_orders_by_connection, _v11_void_on_shop_cancel,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the file up to `SCHEMA_VERSION` in one transaction; returns the version it had.
    A file from a newer version is left alone (its extra columns do no harm here)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, step in enumerate(MIGRATIONS, start=1):
            if number > version:
                step(db)
        if version < SCHEMA_VERSION:
            if version:
                log.info("order history upgraded from version %d to %d", version, SCHEMA_VERSION)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    return version
