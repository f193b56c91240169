"""Accept (接单) and reject (拒单) where the alert is: the notification's buttons, the orders window
and the tray all come here.

The core does the work (`core.order_actions`: the decision ends the alert in the ledger and
queues the request in one transaction; a worker sends it). This object keeps one OrderActions
for each connection's running source and sends each decision through the connection the order
came from (`OrderIntake.connection_for`), offers the buttons only when the shop's back end can take them (and
otherwise has each popup say that the order must be accepted in the shop's own system), asks for
a reject reason, and brings the outcome back to the Qt thread.

A decision is the shop's, not this PC's: whoever decides, every PC takes back what it told about
the order (alerts.order_ended: the line stops mid-word, the popup is closed or replaced by who
decided). A click on an order this PC already knows to be decided elsewhere or cancelled sends
nothing; a refusal from the back end (another PC was first, the customer cancelled) is shown as
that sentence, named by the order's number, and the history keeps the true outcome.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QWidget

from notifier.core import wording
from notifier.core.action_outbox import CONTRADICTED, DECIDED_ELSEWHERE, ActionOutbox
from notifier.core.events import OrderEvent
from notifier.core.ledger import Ending
from notifier.core.order_actions import OrderActions

log = logging.getLogger(__name__)

ACCEPT, REJECT = "accept", "reject"


def ended_title(how: str, number: str) -> str:
    """Who decided, as a popup's title: "订单 1234 已在别处接单"."""
    translate = QCoreApplication.translate
    text = {
        Ending.ACCEPTED_ELSEWHERE: translate("OrderDecisions", "Order %1 was accepted elsewhere"),
        Ending.REJECTED_ELSEWHERE: translate("OrderDecisions", "Order %1 was rejected elsewhere"),
        Ending.CANCELLED: translate("OrderDecisions", "Order %1 was cancelled by the customer"),
    }.get(how, "")
    return text.replace("%1", number)


def refusal_sentence(how: str | None, *, sent: bool) -> str:
    """Why a decision did not count, when the history knows (someone else decided first, the
    customer cancelled); "" when it does not. `sent`: the back end refused it, else this PC
    did not send it at all."""
    translate = QCoreApplication.translate
    why = {
        Ending.ACCEPTED_ELSEWHERE: translate("OrderDecisions", "It had already been accepted elsewhere."),
        Ending.REJECTED_ELSEWHERE: translate("OrderDecisions", "It had already been rejected elsewhere."),
        Ending.CANCELLED: translate("OrderDecisions", "The customer had cancelled it."),
    }.get(how or "", "")
    if why and not sent:
        why += " " + translate("OrderDecisions", "Nothing was sent.")
    return why


def _ask_reject_reason(event: OrderEvent, language: str, parent: QWidget | None) -> str | None:
    # The dialog's module (and the Qt widgets it uses) loads at the first 拒单, not at start:
    # a running app keeps every module it imported in memory all day (issue 27).
    from notifier.desktop.reject_dialog import ask_reject_reason

    return ask_reject_reason(event, language, parent)


class OrderDecisions(QObject):
    # An order stopped ringing because of a decision here or news from elsewhere (Qt thread).
    changed = Signal()
    # Whether accept / reject are offered now (the tray shows its entries only then).
    available_changed = Signal(bool)
    # Every action's outcome, on the Qt thread: (OrderAction, ok, sentence). 派送 / 完成 / 取消
    # are told by order_life.OrderLife, which listens here.
    outcome = Signal(object, bool, object)
    # Hops from the core's threads to the Qt thread.
    _result = Signal(object, bool, object)
    _ended = Signal(str, str, str, str, object, str)

    def __init__(self, ledger, intake, notifier, alerts, parent: QObject | None = None):
        super().__init__(parent)
        self.ledger, self.intake, self.notifier, self.alerts = ledger, intake, notifier, alerts
        self._by_connection: dict[str, OrderActions] = {}  # by connection id
        self._outbox: ActionOutbox | None = None  # one for the app's life (see ActionOutbox)
        self._result.connect(self._on_result)
        self._ended.connect(self._on_ended)
        intake.on_ended(lambda *args: self._ended.emit(*args))
        notifier.action_invoked.connect(self.on_notification_action)
        # (event, parent) -> the reason, or None; tests answer instead of the dialog
        self.reason_asker = lambda event, parent: _ask_reject_reason(
            event, wording.effective_language(alerts.settings), parent)

    # -- which source ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Follow the sources running now (a settings change starts new ones): one OrderActions
        per connection, kept while its source runs."""
        sources = self.intake.sources()
        old = self._by_connection
        kept = {cid: actions for cid, actions in old.items() if sources.get(cid) is actions.source}
        for cid, actions in old.items():
            if kept.get(cid) is not actions:  # its worker may be waiting on a dead server
                threading.Thread(target=actions.stop, name="stop-actions", daemon=True).start()
        for cid, source in sources.items():
            if cid in kept:
                continue
            try:
                if self._outbox is None:
                    self._outbox = ActionOutbox(self.ledger.path)
                connection = self.intake.connection_of(source)
                kept[cid] = OrderActions(self.ledger.path, source,
                                         lambda *args: self._result.emit(*args), outbox=self._outbox,
                                         scope=connection.scope if connection is not None else "")
            except Exception:  # noqa: BLE001 - acknowledging still works without it
                log.exception("accept / reject unavailable")
        self._by_connection = kept
        buttons = ((ACCEPT, QCoreApplication.translate("OrderDecisions", "Accept")),
                   (REJECT, QCoreApplication.translate("OrderDecisions", "Reject…")))
        self.notifier.set_order_actions(buttons if self.available else ())
        # Where the back end takes no decisions, each popup says where they are taken.
        self.alerts.set_decision_note("" if self.available or not sources else
                                      QCoreApplication.translate(
                                          "OrderDecisions", "Accept it in your order system: "
                                          "here you can only stop the ringing."))
        self.available_changed.emit(self.available)

    @property
    def actions(self) -> OrderActions | None:
        """The order actions of the source running now (None while there is none)."""
        return self._actions

    @property
    def _actions(self) -> OrderActions | None:
        """The first connection's (what the single-connection parts act on)."""
        return next(iter(self._by_connection.values()), None)

    @_actions.setter
    def _actions(self, value: OrderActions | None) -> None:
        self._by_connection = {} if value is None else {"": value}

    def actions_for(self, event: OrderEvent) -> OrderActions | None:
        """The OrderActions of the connection the order came from, if it takes decisions."""
        connection = self.intake.connection_for(event)
        actions = self._by_connection.get(connection) if connection is not None else None
        return actions if actions is not None and actions.unavailable is None else None

    @property
    def available(self) -> bool:
        """Whether any connection takes decisions (each order's own is asked when deciding)."""
        return any(actions.unavailable is None for actions in self._by_connection.values())

    @property
    def unavailable(self) -> str:
        if self._actions is None:
            return QCoreApplication.translate("OrderDecisions", "Not connected.")
        return self._actions.unavailable or ""

    def unsent(self) -> set[tuple[str, str, str, str]]:
        """Orders decided here whose decision still waits to be sent (offline, retrying), as
        (source, server, order id, connection id)."""
        return self._outbox.unsent_orders() if self._outbox is not None else set()

    # -- deciding --------------------------------------------------------------------------

    def accept(self, event: OrderEvent) -> bool:
        """Accept the order (also stops it ringing here); False if not done (this shop cannot,
        or the order was decided elsewhere already: then the owner is told so)."""
        actions = self.actions_for(event)
        if actions is None:
            return False
        return self._decided(event, ACCEPT, actions.accept(event))

    def reject(self, event: OrderEvent, reason: str | None = None, parent: QWidget | None = None) -> bool:
        """Reject with `reason`, or ask for one; False if not done (unavailable, cancelled, or
        decided elsewhere already)."""
        if self.actions_for(event) is None:
            return False
        ended = self._decided_elsewhere(event)
        if ended is not None:  # no dialog for an order that is not ours to reject any more
            self._tell_refusal(event, REJECT, refusal_sentence(ended, sent=False))
            return False
        reason = reason or self.reason_asker(event, parent)
        actions = self.actions_for(event)  # again: the connection may have changed meanwhile
        if not reason or actions is None:
            return False
        return self._decided(event, REJECT, actions.reject(event, reason))

    def _decided(self, event: OrderEvent, action: str, decision) -> bool:
        if decision.state == CONTRADICTED:
            # This PC already knows better (a stale popup, a window not refreshed): nothing sent.
            self._tell_refusal(event, action, refusal_sentence(decision.ended, sent=False))
            return False
        how = Ending.ACCEPTED_HERE if action == ACCEPT else Ending.REJECTED_HERE
        self.alerts.order_ended(event.source, event.server, event.order_id, how,
                                connection_id=event.connection_id)
        self.changed.emit()
        return True

    def _decided_elsewhere(self, event: OrderEvent) -> str | None:
        entry = self.ledger.find(event.key)
        how = entry.ended_how if entry is not None else None
        return how if how in DECIDED_ELSEWHERE else None

    def _tell_refusal(self, event: OrderEvent, action: str, sentence: str) -> None:
        log.info("%s of order %s not done: %s", action, event.order_id, sentence)
        translate = QCoreApplication.translate
        title = (translate("OrderDecisions", "Order %1 not accepted") if action == ACCEPT
                 else translate("OrderDecisions", "Order %1 not rejected"))
        self.notifier.show(title.replace("%1", event.display_number), sentence)

    def oldest_waiting(self) -> OrderEvent | None:
        """The new order waiting longest for someone (what the tray's entries act on)."""
        return self.ledger.oldest_waiting_order()


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
        self.outcome.emit(action, ok, sentence)
        if ok or action.action not in (ACCEPT, REJECT):
            return
        event = self.ledger.order(action.source, action.server, action.order_id,
                                  connection_id=action.connection_id)
        if event is None:
            return  # expired from the history meanwhile
        entry = self.ledger.find(event.key)
        how = entry.ended_how if entry is not None else None
        if how in DECIDED_ELSEWHERE:
            # The back end told what became of it: the history keeps that, the owner reads it.
            self.alerts.order_ended(action.source, action.server, action.order_id, how,
                                    connection_id=action.connection_id)
            sentence = refusal_sentence(how, sent=True)
        self._tell_refusal(event, action.action, sentence or "")

    def _on_ended(self, source: str, server: str, order_id: str, how: str, reason,
                  connection_id: str) -> None:
        """Another PC (or the back end's own page) decided, or the customer cancelled: take back
        the popup and the line of that connection's order, and say who decided."""
        order = self.ledger.order(source, server, order_id, connection_id=connection_id)
        number = (order.display_number if order is not None else order_id) or order_id
        self.alerts.order_ended(source, server, order_id, how, connection_id=connection_id,
                                title=ended_title(how, number), body=reason or "")
        self.changed.emit()

    def stop(self) -> None:
        for actions in self._by_connection.values():
            actions.stop()
        self._by_connection = {}
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
