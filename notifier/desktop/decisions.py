"""Accept (接单) and reject (拒单) where the alert is: the notification's buttons, the orders window
and the tray all come here.

The core does the work (`core.order_actions`: the decision ends the alert in the ledger and
queues the request in one transaction; a worker sends it). This object keeps one OrderActions
for the source running now, offers the buttons only when the shop's back end can take them,
asks for a reject reason, and brings the outcome back to the Qt thread: a refusal is shown as a
notification in the owner's words, and an order that ended elsewhere (another PC, the customer)
stops ringing here at once.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QInputDialog, QWidget

from notifier.core.action_outbox import ActionOutbox
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending
from notifier.core.order_actions import OrderActions

log = logging.getLogger(__name__)

ACCEPT, REJECT = "accept", "reject"
MAX_REASON_CHARS = 200


def reject_reasons() -> list[str]:
    """The short list offered when rejecting (the owner may also type one)."""
    translate = QCoreApplication.translate
    return [translate("OrderDecisions", "Sold out"), translate("OrderDecisions", "Too busy right now"),
            translate("OrderDecisions", "Outside the delivery area"),
            translate("OrderDecisions", "Closing soon")]


def ask_reject_reason(parent: QWidget | None) -> str | None:
    """The reason picked or typed, or None when the owner thought better of it."""
    translate = QCoreApplication.translate
    reason, ok = QInputDialog.getItem(
        parent, translate("OrderDecisions", "Reject order"),
        translate("OrderDecisions", "Why is the order rejected? (the customer sees this)"),
        reject_reasons(), 0, True)
    reason = reason.strip()[:MAX_REASON_CHARS]
    return reason if ok and reason else None


class OrderDecisions(QObject):
    # An order stopped ringing because of a decision here or news from elsewhere (Qt thread).
    changed = Signal()
    # Whether accept / reject are offered now (the tray shows its entries only then).
    available_changed = Signal(bool)
    # Hops from the core's threads to the Qt thread.
    _result = Signal(object, bool, object)
    _ended = Signal(str, str, str, str, object)

    def __init__(self, ledger, intake, notifier, alerts, parent: QObject | None = None):
        super().__init__(parent)
        self.ledger, self.intake, self.notifier, self.alerts = ledger, intake, notifier, alerts
        self._actions: OrderActions | None = None
        self._outbox: ActionOutbox | None = None  # one for the app's life (see ActionOutbox)
        self._result.connect(self._on_result)
        self._ended.connect(self._on_ended)
        intake.on_ended(lambda *args: self._ended.emit(*args))
        notifier.action_invoked.connect(self.on_notification_action)
        self.reason_asker = ask_reject_reason  # tests answer instead of the dialog

    # -- which source ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Follow the source running now (a settings change starts a new one)."""
        source = self.intake.source
        if self._actions is not None and self._actions.source is source:
            return
        old, self._actions = self._actions, None
        if old is not None:  # its worker may be waiting on a dead server: do not wait for it here
            threading.Thread(target=old.stop, name="stop-actions", daemon=True).start()
        if source is not None:
            try:
                if self._outbox is None:
                    self._outbox = ActionOutbox(self.ledger.path)
                self._actions = OrderActions(self.ledger.path, source,
                                             lambda *args: self._result.emit(*args), outbox=self._outbox)
            except Exception:  # noqa: BLE001 - acknowledging still works without it
                log.exception("accept / reject unavailable")
        buttons = ((ACCEPT, QCoreApplication.translate("OrderDecisions", "Accept")),
                   (REJECT, QCoreApplication.translate("OrderDecisions", "Reject…")))
        self.notifier.set_order_actions(buttons if self.available else ())
        self.available_changed.emit(self.available)

    @property
    def available(self) -> bool:
        return self._actions is not None and self._actions.unavailable is None

    @property
    def unavailable(self) -> str:
        if self._actions is None:
            return QCoreApplication.translate("OrderDecisions", "Not connected.")
        return self._actions.unavailable or ""

    def unsent(self) -> set[tuple[str, str, str]]:
        """Orders decided here whose decision still waits to be sent (offline, retrying)."""
        return self._outbox.unsent_orders() if self._outbox is not None else set()

    # -- deciding --------------------------------------------------------------------------

    def accept(self, event: OrderEvent) -> bool:
        """Accept the order (also acknowledges it here); False if this shop cannot."""
        if not self.available:
            return False
        self._actions.accept(event)
        self._decided()
        return True

    def reject(self, event: OrderEvent, reason: str | None = None, parent: QWidget | None = None) -> bool:
        """Reject with `reason`, or ask for one; False if not done (unavailable, or cancelled)."""
        if not self.available:
            return False
        reason = reason or self.reason_asker(parent)
        if not reason:
            return False
        self._actions.reject(event, reason)
        self._decided()
        return True

    def _decided(self) -> None:
        self.alerts.on_acknowledged()  # stop the repeats and the queued voice line now
        self.changed.emit()

    def oldest_waiting(self) -> OrderEvent | None:
        """The new order waiting longest for someone (what the tray's entries act on)."""
        return next((e.event for e in self.ledger.unacknowledged() if e.event.kind is OrderKind.NEW_ORDER),
                    None)

    def accept_oldest(self) -> bool:
        event = self.oldest_waiting()
        return self.accept(event) if event is not None else False

    def reject_oldest(self) -> bool:
        event = self.oldest_waiting()
        return self.reject(event) if event is not None else False

    def on_notification_action(self, key: str, action: str) -> None:
        entry = self.ledger.find(key)
        if entry is None:
            return
        if action == ACCEPT:
            self.accept(entry.event)
        elif action == REJECT:
            self.reject(entry.event)

    # -- outcomes --------------------------------------------------------------------------

    def _on_result(self, action, ok: bool, sentence) -> None:
        self.changed.emit()
        if ok:
            return
        translate = QCoreApplication.translate
        title = (translate("OrderDecisions", "Order not accepted") if action.action == ACCEPT
                 else translate("OrderDecisions", "Order not rejected"))
        self.notifier.show(title, sentence or "")

    def _on_ended(self, source: str, server: str, order_id: str, how: str, reason) -> None:
        self.alerts.on_acknowledged()
        self.changed.emit()
        # Accepted elsewhere is what the owner expects; an order that will not be made is news,
        # said once (the repeats have stopped).
        translate = QCoreApplication.translate
        order = self.ledger.order(source, server, order_id)
        number = (order.display_number if order is not None else order_id) or order_id
        if how == Ending.CANCELLED:
            title = translate("OrderDecisions", "Order %1 was cancelled by the customer").replace("%1", number)
        elif how == Ending.REJECTED_ELSEWHERE:
            title = translate("OrderDecisions", "Order %1 was rejected elsewhere").replace("%1", number)
        else:
            return
        self.notifier.show(title, reason or "")

    def stop(self) -> None:
        if self._actions is not None:
            self._actions.stop()
            self._actions = None
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
