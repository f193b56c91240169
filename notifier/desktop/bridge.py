"""Where the core's threads meet the Qt main thread.

Sources call `push_order` / `push_status` / `push_details` on their own threads. Nothing Qt is touched there: the
event goes into a locked list and, if that list was empty, one queued wake-up is posted to the
main thread. The main thread then takes everything that piled up in one go and emits it as one
batch. A burst of a thousand orders is therefore a handful of main-thread turns, not a thousand,
and the tray badge and the window refresh once per batch.

One thing does not wait for the main thread: `early`, when set, is called with each order on
its source's thread before the hand-over (the popup lane, popup_lane.py: the notification leaves
the moment the order is on disk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from notifier.core.connection import ConnectionStatus
from notifier.core.events import OrderEvent

log = logging.getLogger(__name__)


class CoreBridge(QObject):
    """Queued hand-over of order events and connection states to the main thread."""

    #: every new event, one by one (for simple listeners; emitted from the main thread)
    order = Signal(object)
    #: every new event of one main-thread turn, as a list (what the alert centre uses)
    orders = Signal(list)
    #: the newest connection status (intermediate ones of the same turn are dropped)
    status = Signal(object)
    #: an order told earlier, as its details (fetched after it was stored) made it
    details = Signal(object)

    _wake = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._events: list[OrderEvent] = []
        self._details: list[OrderEvent] = []
        self._status: ConnectionStatus | None = None
        self._wake_posted = False
        #: called with each order on its source's thread, before it is handed over
        self.early: Callable[[OrderEvent], None] | None = None
        # Queued even when emitted from the main thread: the drain always runs in a later turn.
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    # -- any thread ----------------------------------------------------------------------

    def push_order(self, event: OrderEvent) -> None:
        """Called by the intake on the source thread, after the event is on disk."""
        early = self.early
        if early is not None:
            try:
                early(event)
            except Exception:  # noqa: BLE001 - the main thread still shows it
                log.exception("early order observer failed")
        event = event.without_frame()  # one copy for every part that keeps it
        with self._lock:
            self._events.append(event)
            post = not self._wake_posted
            self._wake_posted = True
        if post:
            self._wake.emit()

    def push_details(self, event: OrderEvent) -> None:
        """Called by the intake on the source thread, after the details are on disk."""
        event = event.without_frame()
        with self._lock:
            self._details.append(event)
            post = not self._wake_posted
            self._wake_posted = True
        if post:
            self._wake.emit()

    def push_status(self, status: ConnectionStatus) -> None:
        with self._lock:
            self._status = status
            post = not self._wake_posted
            self._wake_posted = True
        if post:
            self._wake.emit()

    # -- main thread ---------------------------------------------------------------------

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            events, self._events = self._events, []
            status, self._status = self._status, None
            details, self._details = self._details, []
            self._wake_posted = False
        # Orders before the status: an order that arrived just before a disconnect is still
        # announced before "connection lost".
        if events:
            self.orders.emit(events)
            for event in events:
                self.order.emit(event)
        # After the orders: an order's popup is shown before the update that adds its amount.
        for event in details:
            self.details.emit(event)
        if status is not None:
            self.status.emit(status)

