"""Where a source's events meet the ledger: write first, then tell whoever listens.

A reminder (or cancellation, refund) usually names only the order; what the ledger already knows
about that order (number, amount, customer) is added to it, so the owner sees which order it is.

The observers are called on the source's thread, after the event is on disk and only when it is
new; the desktop layer's observer hops to the Qt main thread with a queued signal.

Whoever finally tells the person (the listener's line, the alert centre) marks the event told in
the ledger afterwards. A crash between the ledger write and that mark leaves the event "untold";
`tell_untold`, called once before the source starts, hands those to the observers again with a
note that they came in while the app was stopping.

Every enabled connection of the settings (core.connections) runs a source of its own, each in its
own thread with its own reconnect state, behind a `ConnectionHost` that stamps the connection on
its events (so the ledger keys them per connection) and keeps its cursors apart. A connection
whose settings are wrong gets a MISCONFIGURED state of its own; the others start regardless.
Restarting with new settings restarts only the connections that changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace

from notifier.core.connection import ConnectionStatus, ConnState, combined
from notifier.core.connections import Connection, ConnectionSecrets, enabled
from notifier.core.events import OrderEvent, OrderKind, clip
from notifier.core.i18n import tr
from notifier.core.ledger import Ending, Ledger
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings, SettingsError
from notifier.core.sources import Source, create_source

log = logging.getLogger(__name__)

# How long an accepted order is followed by a status poll (派送 / 完成 elsewhere): a shop's day.
FOLLOW_FOR_S = 24 * 3600.0

OrderObserver = Callable[[OrderEvent], None]
StatusObserver = Callable[[ConnectionStatus], None]
# (connection's name, its status): each connection on its own, for a listener's lines.
ConnectionStatusObserver = Callable[[str, ConnectionStatus], None]
# (source, server, order_id, how, reason, connection id): an order's alert ended without a click
# here. The connection id (OrderEvent.connection_id) is part of what the order is known by.
EndedObserver = Callable[[str, str, str, str, "str | None", str], None]
# (source, server, order_id, progress, connection id): an order went on after 接单 elsewhere.
ProgressObserver = Callable[[str, str, str, str, str], None]
# The order's event with what its details added (amount, customer, `details`): fetched after the
# order was stored and told, so the popup can be updated in place and the voice line say the amount.
DetailsObserver = Callable[[OrderEvent], None]


def noted_late(event: OrderEvent) -> OrderEvent:
    """The event as told at the next start: the note leads its text, so the popup and the line
    say why it comes now. (The key does not depend on the text: marking it told still works.)"""
    note = tr("Received while the app was stopping")
    return replace(event, text=f"{note} · {event.text}" if event.text else note)


class ConnectionHost:
    """The source host of one connection: the intake's, with the connection stamped on every
    event it stores (`named`: its name too, when there are several to tell apart), its cursors
    kept under names of its own, and every order it names (ended, progressed, ringing) looked up
    among its own connection's orders only: the same order id on another connection to the same
    server (a second branch) is another order."""

    def __init__(self, intake: OrderIntake, connection: Connection, named: bool):
        self.intake = intake
        self.connection = connection
        self.name = connection.name if named else ""

    def stamped(self, event: OrderEvent) -> OrderEvent:
        scope = self.connection.scope
        if event.connection == self.name and event.connection_id == scope:
            return event  # one connection, upgraded from a single-connection file: nothing to add
        return replace(event, connection=self.name, connection_id=scope)

    def _cursor_name(self, name: str) -> str:
        scope = self.connection.scope
        return f"{scope}|{name}" if scope else name

    def store(self, event: OrderEvent, cursor: tuple[str, str] | None = None, *,
              durable: bool = False) -> bool:
        if cursor is not None:
            cursor = (self._cursor_name(cursor[0]), cursor[1])
        return self.intake.store(self.stamped(event), cursor, durable=durable)

    def cursor(self, name: str) -> str | None:
        return self.intake.cursor(self._cursor_name(name))

    def save_cursor(self, name: str, value: str) -> None:
        self.intake.save_cursor(self._cursor_name(name), value)

    def details_arrived(self, event: OrderEvent) -> None:
        self.intake.details_arrived(self.stamped(event))

    def end_order(self, source: str, server: str, order_id: str, how: str,
                  reason: str | None = None) -> bool:
        return self.intake.end_order(source, server, order_id, how, reason,
                                     connection_id=self.connection.scope)

    def ringing(self, source: str, server: str) -> list[str]:
        return self.intake.ringing(source, server, connection_id=self.connection.scope)

    def progressed(self, source: str, server: str, order_id: str, progress: str,
                   reason: str | None = None) -> bool:
        return self.intake.progressed(source, server, order_id, progress, reason,
                                      connection_id=self.connection.scope)

    def in_progress(self, source: str, server: str) -> list[tuple[str, str]]:
        return self.intake.in_progress(source, server, connection_id=self.connection.scope)


class _Running:
    """A started connection: what it runs with, its source (None: misconfigured) and state."""

    def __init__(self, connection: Connection, settings: Settings | None, named: bool):
        self.connection = connection
        self.settings = settings
        self.named = named
        self.source: Source | None = None
        self.status = ConnectionStatus(ConnState.STOPPED)


class OrderIntake:
    def __init__(self, ledger: Ledger, secrets: SecretStore):
        self.ledger = ledger
        self.secrets = secrets
        self._order_observers: list[OrderObserver] = []
        self._status_observers: list[StatusObserver] = []
        self._connection_observers: list[ConnectionStatusObserver] = []
        self._ended_observers: list[EndedObserver] = []
        self._details_observers: list[DetailsObserver] = []
        self._progress_observers: list[ProgressObserver] = []
        self._lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._running: dict[str, _Running] = {}  # by connection id, in the list's order

    def on_order(self, observer: OrderObserver) -> None:
        self._order_observers.append(observer)

    def on_status(self, observer: StatusObserver) -> None:
        """The state of all connections as one (connection.combined): the worst, naming it."""
        self._status_observers.append(observer)

    def on_connection_status(self, observer: ConnectionStatusObserver) -> None:
        """Each connection's state on its own, with the connection's name."""
        self._connection_observers.append(observer)

    def on_ended(self, observer: EndedObserver) -> None:
        """Called when a source learns that an order ended elsewhere (accepted or rejected on
        another PC, cancelled by the customer) and that is news here (see Ledger.end_order), with
        the order's connection id last."""
        self._ended_observers.append(observer)

    def on_progress(self, observer: ProgressObserver) -> None:
        """Called with (source, server, order id, progress, connection id) when an order went
        on after 接单 elsewhere (派送, 完成, 取消 on another PC) and that is news here."""
        self._progress_observers.append(observer)

    def on_details(self, observer: DetailsObserver) -> None:
        """Called when an order's details (amount, customer, items) arrive after the order was
        delivered; the event passed is the order's, with what the details added."""
        self._details_observers.append(observer)

    def details_arrived(self, event: OrderEvent) -> None:
        """Keep an order's details (`event.details`, amount, customer) with it (ledger first),
        then tell the observers."""
        self.ledger.set_details(event.source, event.server, event.order_id, event.details,
                                connection_id=event.connection_id, amount=event.amount,
                                customer=event.customer)
        for observer in self._details_observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - the details are on disk; keep the source alive
                log.exception("details observer failed")

    def end_order(self, source: str, server: str, order_id: str, how: str,
                  reason: str | None = None, *, connection_id: str) -> bool:
        """Record how the order (of this connection) ended (ledger first), then tell the
        observers if that is news here; True if it was."""
        if not self.ledger.end_order(source, server, order_id, how, reason, connection_id=connection_id):
            return False
        for observer in self._ended_observers:
            try:
                observer(source, server, order_id, how, reason, connection_id)
            except Exception:  # noqa: BLE001 - the ending is on disk; keep the source alive
                log.exception("ended observer failed")
        return True

    # -- what each connection's host (ConnectionHost, a sources.base.SourceHost) calls -----

    def store(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False
    ) -> bool:
        if event.kind is not OrderKind.NEW_ORDER and event.order_id and (
                event.amount is None or not event.customer or not event.order_number):
            event = self._with_order_details(event)
        is_new = self.ledger.record(event, cursor, durable=durable, upkeep_later=True)
        try:
            if is_new:
                self._tell(event)
                if event.kind is OrderKind.CANCELLED and event.order_id:
                    # The customer cancelled: the order ends everywhere, like a decision from
                    # elsewhere (its popup withdrawn, its line stopped, the cancellation told once).
                    self.end_order(event.source, event.server, event.order_id, Ending.CANCELLED,
                                   clip(event.text, 200) or None, connection_id=event.connection_id)
        finally:
            self.ledger.upkeep()  # after the telling: nothing of it waits for the checkpointer
        return is_new

    def _tell(self, event: OrderEvent) -> None:
        for observer in self._order_observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - the order is safe on disk; keep the source alive
                log.exception("order observer failed")

    def tell_untold(self) -> int:
        """Tell again, noted as late, every event a crash left stored but not told; returns how
        many. Call it before `start`: then nothing new is on its way to the observers yet, and
        none of these can be told twice by being both "untold" and in flight."""
        entries = self.ledger.untold()
        if entries:
            log.info("telling %d orders stored but not told before the last stop", len(entries))
        for entry in entries:
            self._tell(noted_late(entry.event))
        return len(entries)

    def _with_order_details(self, event: OrderEvent) -> OrderEvent:
        order = self.ledger.order(event.source, event.server, event.order_id,
                                  connection_id=event.connection_id)
        if order is None:
            return event
        return replace(
            event,
            order_number=event.order_number or order.order_number,
            amount=event.amount if event.amount is not None else order.amount,
            customer=event.customer or order.customer,
        )

    def cursor(self, name: str) -> str | None:
        """A source's saved resume position (see Source.saved_cursor)."""
        return self.ledger.cursor(name)

    def save_cursor(self, name: str, value: str) -> None:
        self.ledger.set_cursor(name, value)

    def ringing(self, source: str, server: str, *, connection_id: str) -> list[str]:
        return self.ledger.ringing_order_ids(source, server, connection_id=connection_id)

    def progressed(self, source: str, server: str, order_id: str, progress: str,
                   reason: str | None = None, *, connection_id: str) -> bool:
        """Keep how far the order (of this connection) got after 接单 elsewhere (ledger
        first), then tell the observers of changes (`on_progress`) if that is news."""
        if not self.ledger.set_progress(source, server, order_id, progress, reason,
                                        connection_id=connection_id):
            return False
        for observer in self._progress_observers:
            try:
                observer(source, server, order_id, progress, connection_id)
            except Exception:  # noqa: BLE001 - the state is on disk; keep the source alive
                log.exception("progress observer failed")
        return True

    def in_progress(self, source: str, server: str, *, connection_id: str) -> list[tuple[str, str]]:
        return self.ledger.in_progress(source, server, time.time() - FOLLOW_FOR_S,
                                       connection_id=connection_id)

    # -- the connections ------------------------------------------------------------------

    @property
    def source(self) -> Source | None:
        """The first connection's source (what a part written for one connection acts on)."""
        return next(iter(self.sources().values()), None)

    def sources(self) -> dict[str, Source]:
        """The running sources by connection id, in the list's order. (No lock: `start` swaps
        the whole dict, and may hold its lock for seconds while a stopping source finishes.)"""
        return {cid: run.source for cid, run in self._running.items() if run.source is not None}

    def connection_for(self, event: OrderEvent) -> str | None:
        """The id of the running connection `event` came through (where its decisions go back);
        an event from before the list belongs to the only connection, if there is one."""
        running = list(self._running.values())
        for run in running:
            if run.connection.scope == event.connection_id:
                return run.connection.id
        if len(running) == 1 and not event.connection_id:
            return running[0].connection.id
        return None

    def connection_of(self, source: Source) -> Connection | None:
        return next((run.connection for run in self._running.values() if run.source is source), None)

    def _status_of(self, run: _Running, status: ConnectionStatus) -> None:
        with self._status_lock:
            changed = run.status.state is not status.state
            run.status = status
        if changed:  # which connection, for the log (the source's own line names only the server)
            log.info("connection %s: %s", run.connection.name, status.state)
        for observer in self._connection_observers:
            try:
                observer(run.connection.name, status)
            except Exception:  # noqa: BLE001
                log.exception("connection status observer failed")
        self._publish_summary()

    def _publish_summary(self) -> None:
        with self._status_lock:
            named = [(r.connection.name, r.status) for r in list(self._running.values())]
        if not named:  # stopped while this came in
            return
        summary = combined(named)
        for observer in self._status_observers:
            try:
                observer(summary)
            except Exception:  # noqa: BLE001
                log.exception("status observer failed")

    def start(self, settings: Settings, *, restart_all: bool = False,
              restart: Collection[str] = ()) -> Source | None:
        """Start every enabled connection; with new settings, restart only the connections that
        changed (and those whose ids are in `restart`; `restart_all`: every one, e.g. after
        their secrets changed), stop the removed
        and disabled ones. Returns the first one's source."""
        with self._lock:
            wanted = enabled(settings)
            named = len(wanted) > 1
            old, self._running = self._running, {}
            keep: dict[str, _Running] = {}
            for connection in wanted:
                try:
                    own = connection.settings(settings)
                except SettingsError as exc:
                    own = None
                    problem = str(exc)
                before = old.get(connection.id)
                if (not restart_all and connection.id not in restart and before is not None and own is not None
                        and before.settings is not None and before.named == named and before.connection.name == connection.name
                        and not before.settings.connection_changed(own)):
                    keep[connection.id] = before
                    continue
                run = _Running(connection, own, named)
                keep[connection.id] = run
                if own is None:
                    run.status = ConnectionStatus(ConnState.MISCONFIGURED, detail=problem)
            for cid, run in old.items():
                if keep.get(cid) is not run and run.source is not None:
                    run.source.stop()
            self._running = keep
            for cid, run in keep.items():
                if run is not old.get(cid) and run.settings is not None:
                    self._start_one(run)
        for run in list(keep.values()):
            if run.settings is None:
                self._status_of(run, run.status)
        self._publish_summary()  # connections removed or switched off leave the summary
        return self.source

    def _start_one(self, run: _Running) -> None:
        connection = run.connection
        try:
            run.source = create_source(run.settings, ConnectionHost(self, connection, run.named),
                                       lambda status, run=run: self._status_of(run, status),
                                       ConnectionSecrets(self.secrets, connection))
            run.source.start()
        except Exception as exc:  # noqa: BLE001 - one connection's fault stays its own
            log.exception("connection %s could not start", connection.name)
            run.source = None
            run.settings = None
            run.status = ConnectionStatus(ConnState.MISCONFIGURED, detail=str(exc))

    def stop(self) -> None:
        with self._lock:
            running, self._running = self._running, {}
        for run in running.values():
            if run.source is not None:
                run.source.stop()
