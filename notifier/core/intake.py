"""Where a source's events meet the ledger: write first, then tell whoever listens.

A reminder (or cancellation, refund) usually names only the order; what the ledger already knows
about that order (number, amount, customer) is added to it, so the owner sees which order it is.

The observers are called on the source's thread, after the event is on disk and only when it is
new; the desktop layer's observer hops to the Qt main thread with a queued signal.

Whoever finally tells the person (the listener's line, the alert centre) marks the event told in
the ledger afterwards. A crash between the ledger write and that mark leaves the event "untold";
`tell_untold`, called once before the source starts, hands those to the observers again with a
note that they came in while the app was stopping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from notifier.core.connection import ConnectionStatus
from notifier.core.events import OrderEvent, OrderKind, clip
from notifier.core.i18n import tr
from notifier.core.ledger import Ending, Ledger
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings
from notifier.core.sources import Source, create_source

log = logging.getLogger(__name__)

# How long an accepted order is followed by a status poll (派送 / 完成 elsewhere): a shop's day.
FOLLOW_FOR_S = 24 * 3600.0

OrderObserver = Callable[[OrderEvent], None]
StatusObserver = Callable[[ConnectionStatus], None]
# (source, server, order_id, how, reason): an order's alert ended without a click here.
EndedObserver = Callable[[str, str, str, str, "str | None"], None]
# The order's event with what its details added (amount, customer, `details`): fetched after the
# order was stored and told, so the popup can be updated in place and the voice line say the amount.
DetailsObserver = Callable[[OrderEvent], None]


def noted_late(event: OrderEvent) -> OrderEvent:
    """The event as told at the next start: the note leads its text, so the popup and the line
    say why it comes now. (The key does not depend on the text: marking it told still works.)"""
    note = tr("Received while the app was stopping")
    return replace(event, text=f"{note} · {event.text}" if event.text else note)


class OrderIntake:
    def __init__(self, ledger: Ledger, secrets: SecretStore):
        self.ledger = ledger
        self.secrets = secrets
        self._order_observers: list[OrderObserver] = []
        self._status_observers: list[StatusObserver] = []
        self._ended_observers: list[EndedObserver] = []
        self._details_observers: list[DetailsObserver] = []
        self._progress_observers: list[Callable[[str, str, str, str], None]] = []
        self._lock = threading.Lock()
        self.source: Source | None = None

    def on_order(self, observer: OrderObserver) -> None:
        self._order_observers.append(observer)

    def on_status(self, observer: StatusObserver) -> None:
        self._status_observers.append(observer)

    def on_ended(self, observer: EndedObserver) -> None:
        """Called when a source learns that an order ended elsewhere (accepted or rejected on
        another PC, cancelled by the customer) and that is news here (see Ledger.end_order)."""
        self._ended_observers.append(observer)

    def on_progress(self, observer: Callable[[str, str, str, str], None]) -> None:
        """Called with (source, server, order id, progress) when an order went on after 接单
        elsewhere (派送, 完成, 取消 on another PC) and that is news here."""
        self._progress_observers.append(observer)

    def on_details(self, observer: DetailsObserver) -> None:
        """Called when an order's details (amount, customer, items) arrive after the order was
        delivered; the event passed is the order's, with what the details added."""
        self._details_observers.append(observer)

    def details_arrived(self, event: OrderEvent) -> None:
        """Keep an order's details (`event.details`, amount, customer) with it (ledger first),
        then tell the observers."""
        self.ledger.set_details(event.source, event.server, event.order_id, event.details,
                                amount=event.amount, customer=event.customer)
        for observer in self._details_observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - the details are on disk; keep the source alive
                log.exception("details observer failed")

    def end_order(self, source: str, server: str, order_id: str, how: str,
                  reason: str | None = None) -> bool:
        """Record how the order ended (ledger first), then tell the observers if that is news
        here; True if it was."""
        if not self.ledger.end_order(source, server, order_id, how, reason):
            return False
        for observer in self._ended_observers:
            try:
                observer(source, server, order_id, how, reason)
            except Exception:  # noqa: BLE001 - the ending is on disk; keep the source alive
                log.exception("ended observer failed")
        return True

    # -- the source's host (sources.base.SourceHost) --------------------------------------

    def store(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False
    ) -> bool:
        if event.kind is not OrderKind.NEW_ORDER and event.order_id and (
                event.amount is None or not event.customer or not event.order_number):
            event = self._with_order_details(event)
        is_new = self.ledger.record(event, cursor, durable=durable)
        if is_new:
            self._tell(event)
            if event.kind is OrderKind.CANCELLED and event.order_id:
                # The customer cancelled: the order ends everywhere, like a decision from elsewhere
                # (its popup withdrawn, its line stopped, the cancellation told once).
                self.end_order(event.source, event.server, event.order_id, Ending.CANCELLED,
                               clip(event.text, 200) or None)
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
        order = self.ledger.order(event.source, event.server, event.order_id)
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

    def ringing(self, source: str, server: str) -> list[str]:
        return self.ledger.ringing_order_ids(source, server)

    def progressed(self, source: str, server: str, order_id: str, progress: str,
                   reason: str | None = None) -> bool:
        """Keep how far the order got after 接单 elsewhere (ledger first), then tell the
        observers of changes (`on_progress`) if that is news."""
        if not self.ledger.set_progress(source, server, order_id, progress, reason):
            return False
        for observer in self._progress_observers:
            try:
                observer(source, server, order_id, progress)
            except Exception:  # noqa: BLE001 - the state is on disk; keep the source alive
                log.exception("progress observer failed")
        return True

    def in_progress(self, source: str, server: str) -> list[tuple[str, str]]:
        return self.ledger.in_progress(source, server, time.time() - FOLLOW_FOR_S)

    def _publish_status(self, status: ConnectionStatus) -> None:
        for observer in self._status_observers:
            try:
                observer(status)
            except Exception:  # noqa: BLE001
                log.exception("status observer failed")

    def start(self, settings: Settings) -> Source:
        """Start (or restart with new settings) the source."""
        with self._lock:
            if self.source:
                self.source.stop()
            self.source = create_source(settings, self, self._publish_status, self.secrets)
            self.source.start()
            return self.source

    def stop(self) -> None:
        with self._lock:
            if self.source:
                self.source.stop()
                self.source = None
