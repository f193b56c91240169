"""The order's life after 接单 where the shop works: 派送, 完成 and 取消 (with a reason) from the
orders window, the popup and the tray, and today's figures at a glance.

The core does the work (`core.order_actions`: the click moves the order's state in the ledger
and queues the request in one transaction; the action worker sends it, `core.order_state` says
what each state allows, the source says what its back end takes). This module offers an action
only where both allow it, asks for a cancel reason in the reject dialog's shape, tells a refusal
as a sentence named by the order's number, and after each step puts the order's popup up again
with the steps that come next (an accepted order: 派送 / 完成 / 取消; out for delivery: 完成 /
取消). Another PC's step arrives from the core (`OrderIntake.on_progress`) and refreshes what
shows the order.

`TodayGlance` computes today's figures (core/today.py) off the Qt thread, at most one run at a
time (a change during a run makes one more), asking the back end through the source at most every
`interval_s`; the window's header and the tray's tooltip show what it found. A change asks for a
run `GLANCE_SETTLE_MS` later, not at once: the run's thread start and its Python work would
otherwise share the interpreter with the new order's popup and voice (0.5 ms of each order's
push -> popup time went there), and a burst of orders is one run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtWidgets import QMenu, QWidget

from notifier.core import order_state, wording
from notifier.core.action_outbox import CONTRADICTED
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import LedgerEntry
from notifier.core.order_state import CANCEL, COMPLETE, DELIVER, LIFE_ACTIONS
from notifier.core.text import plain
from notifier.core.today import BackEndFigures, DayFigures, Glance, at_a_glance

translate = QCoreApplication.translate

log = logging.getLogger(__name__)

GLANCE_INTERVAL_S = 60.0
GLANCE_SETTLE_MS = 300
UNDER_WAY_IN_MENU = 8  # orders under way the tray's menu lists (the window has the rest)


def state_text(state: str) -> str:
    return {
        order_state.WAITING: translate("OrderLife", "To accept"),
        order_state.ACCEPTED: translate("OrderLife", "To send out"),
        order_state.DELIVERING: translate("OrderLife", "Out for delivery"),
        order_state.COMPLETED: translate("OrderLife", "Completed"),
        order_state.CANCELLED: translate("OrderLife", "Cancelled"),
    }[state]


def action_label(action: str) -> str:
    return {DELIVER: translate("OrderLife", "Send out"), COMPLETE: translate("OrderLife", "Complete"),
            CANCEL: translate("OrderLife", "Cancel order…")}[action]


def not_done_title(action: str) -> str:
    """The title of a refusal's notification, with %1 for the order's number."""
    return {DELIVER: translate("OrderLife", "Order %1 not sent out for delivery"), COMPLETE: translate("OrderLife", "Order %1 not completed"),
            CANCEL: translate("OrderLife", "Order %1 not cancelled")}[action]


def step_title(state: str) -> str:
    """The popup's title after a step, with %1 for the order's number."""
    return {order_state.ACCEPTED: translate("OrderLife", "Order %1 accepted"), order_state.DELIVERING: translate("OrderLife", "Order %1 out for delivery"),
            order_state.COMPLETED: translate("OrderLife", "Order %1 completed"), order_state.CANCELLED: translate("OrderLife", "Order %1 cancelled")
            }.get(state, "%1")


def cancel_reasons() -> list[str]:
    return [translate("OrderLife", "Sold out"), translate("OrderLife", "No rider available"), translate("OrderLife", "The customer asked to cancel"),
            translate("OrderLife", "The shop is closing")]


def ask_cancel_reason(event: OrderEvent, language: str, parent: QWidget | None = None) -> str | None:
    # The dialog's module loads at the first 取消, not at start (see decisions.py).
    from notifier.desktop.reject_dialog import ReasonDialog, ask_reason

    return ask_reason(ReasonDialog(
        event, language, parent, title=translate("OrderLife", "Cancel order %1"),
        question=translate("OrderLife", "Cancel order %1? The customer sees the reason and is refunded."),
        reasons=cancel_reasons(), confirm=translate("OrderLife", "Cancel order")))


class OrderLife(QObject):
    """派送 / 完成 / 取消 for the orders window, the popup and the tray (see the module docstring)."""

    changed = Signal()  # an order's state changed, here or elsewhere (Qt thread)
    _progressed = Signal(str, str, str, str, str)

    def __init__(self, decisions, ledger, intake, notifier, parent: QObject | None = None):
        super().__init__(parent)
        self.decisions, self.ledger, self.notifier = decisions, ledger, notifier
        decisions.outcome.connect(self._on_outcome)
        notifier.action_invoked.connect(self.on_notification_action)
        self._progressed.connect(self._on_progressed)
        intake.on_progress(lambda *args: self._progressed.emit(*args))
        # (event, parent) -> the reason, or None; tests answer instead of the dialog
        self.reason_asker = lambda event, parent: ask_cancel_reason(event, self._language(), parent)

    def _language(self) -> str:
        return wording.effective_language(self.decisions.alerts.settings)

    def stop(self) -> None:
        """No more outcomes, clicks or news from here on (before the ledger closes: a queued
        one would find it closed)."""
        self.decisions.outcome.disconnect(self._on_outcome)
        self.notifier.action_invoked.disconnect(self.on_notification_action)
        self._progressed.disconnect(self._on_progressed)

    # -- what is offered --------------------------------------------------------------------

    def offered(self, entry: LedgerEntry) -> tuple[str, ...]:
        """The steps to offer for this order now: what its state allows and its back end takes."""
        actions = self.decisions.actions_for(entry.event)
        if actions is None or entry.event.kind is not OrderKind.NEW_ORDER:
            return ()
        return actions.offered(entry.state)

    def buttons(self, state: str, event: OrderEvent) -> tuple[tuple[str, str], ...]:
        """(action id, label) for the popup of `event`, an order in `state` (its connection's
        back end says which steps it takes)."""
        actions = self.decisions.actions_for(event)
        return tuple((a, action_label(a)) for a in (actions.offered(state) if actions else ()))

    # -- doing ------------------------------------------------------------------------------

    def act(self, event: OrderEvent, action: str, reason: str | None = None,
            parent: QWidget | None = None) -> bool:
        """Take `action` on the order (asking for a reason to cancel); False when nothing was
        queued (the owner is told why when the order's state did not allow it)."""
        actions = self.decisions.actions_for(event)
        if actions is None or action not in LIFE_ACTIONS:
            return False
        if action == CANCEL:
            reason = reason or self.reason_asker(event, parent)
            if not reason:
                return False
        step = {DELIVER: actions.deliver, COMPLETE: actions.complete}.get(action)
        decision = step(event) if step else actions.cancel(event, reason or "")
        if decision.state == CONTRADICTED:
            now = decision.order_state
            sentence = translate("OrderLife", "Its state now: %1. Nothing was sent.").replace("%1", state_text(now)) if now else ""
            self._tell(event, action, sentence)
            return False
        self.changed.emit()
        if decision.queued:
            entry = self.ledger.find(event.key)
            if entry is not None:
                self._show_step(entry)
        return decision.queued

    def on_notification_action(self, key: str, action: str) -> None:
        if action not in LIFE_ACTIONS:
            return
        entry = self.ledger.find(key)
        if entry is not None:
            self.act(entry.event, action)

    def _tell(self, event: OrderEvent, action: str, sentence: str) -> None:
        log.info("%s of order %s not done: %s", action, event.order_id, sentence)
        self.notifier.show(not_done_title(action).replace("%1", event.display_number), sentence)

    def _show_step(self, entry: LedgerEntry) -> None:
        """The order's popup, replaced by its state and the steps that come next (none when it
        is completed or cancelled: then it goes)."""
        event = entry.event
        buttons = self.buttons(entry.state, event)
        if not buttons:
            self.notifier.withdraw(event.key)
            return
        body = wording.notification_body(event, self._language())
        self.notifier.update(step_title(entry.state).replace("%1", event.display_number), body,
                             key=event.key, actions=buttons, show_if_gone=True)

    # -- outcomes ---------------------------------------------------------------------------

    def _on_outcome(self, action, ok: bool, sentence) -> None:
        event = self.ledger.order(action.source, action.server, action.order_id,
                                  connection_id=action.connection_id)
        if event is None:
            return
        if ok and action.action == "accept":
            entry = self.ledger.find(event.key)
            if entry is not None and entry.state == order_state.ACCEPTED:
                self._show_step(entry)  # the accepted order's next steps, where its popup was
            return
        if action.action not in LIFE_ACTIONS:
            return
        self.changed.emit()
        if not ok:
            self._tell(event, action.action, sentence or "")
            entry = self.ledger.find(event.key)
            if entry is not None:
                self._show_step(entry)  # the steps its state allows now, to try again

    def _on_progressed(self, source: str, server: str, order_id: str, _progress: str,
                       connection_id: str) -> None:
        """Another PC (or the back end's page) moved the order (of that connection) on: what
        shows it follows."""
        event = self.ledger.order(source, server, order_id, connection_id=connection_id)
        if event is not None and not self.buttons(self.ledger.find(event.key).state, event):
            self.notifier.withdraw(event.key)
        self.changed.emit()

    # -- the tray's menu ---------------------------------------------------------------------

    def under_way(self, now: float | None = None) -> list[LedgerEntry]:
        """Orders of the last day accepted and not completed or cancelled, oldest first."""
        since = (time.time() if now is None else now) - 86400
        entries = [e for state in (order_state.ACCEPTED, order_state.DELIVERING)
                   for e in self.ledger.recent(UNDER_WAY_IN_MENU, since=since, state=state)
                   if e.event.kind is OrderKind.NEW_ORDER]
        return sorted(entries, key=lambda e: e.id)[:UNDER_WAY_IN_MENU]

    def fill_menu(self, menu: QMenu) -> None:
        """The tray's "Orders under way" menu: each such order with its next steps."""
        menu.clear()
        menu.setTitle(translate("OrderLife", "Orders under way"))
        entries = self.under_way() if self.decisions.actions is not None else []
        menu.menuAction().setVisible(bool(entries))
        language = self._language()
        for entry in entries:
            event = entry.event
            amount = wording.display_amount(event.amount, language, event.currency)
            title = " · ".join(p for p in (f"#{plain(event.display_number, 40)}", amount,
                                           state_text(entry.state)) if p)
            sub = menu.addMenu(title)
            for action in self.offered(entry):
                sub.addAction(action_label(action), lambda e=event, a=action: self.act(e, a))


class TodayGlance(QObject):
    """Today's figures, computed off the Qt thread (see the module docstring)."""

    updated = Signal(object)  # a today.Glance, on the Qt thread

    def __init__(self, ledger, source_of: Callable[[], object], interval_s: float = GLANCE_INTERVAL_S,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.ledger = ledger
        self._source_of = source_of
        self.interval_s = interval_s
        self._source = None
        self._back_end: BackEndFigures | None = None
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self.glance: Glance | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(int(interval_s * 1000))
        self._settle = QTimer(self, singleShot=True, interval=GLANCE_SETTLE_MS)
        self._settle.timeout.connect(self._refresh_now)

    def refresh(self) -> None:
        """Compute the figures again soon (orders changed): after GLANCE_SETTLE_MS, once for
        every change until then; one run at a time."""
        if not self._settle.isActive():
            self._settle.start()

    def _refresh_now(self) -> None:
        source = self._source_of()
        if source is not self._source:
            self._source = source
            ask = getattr(source, "day_figures", None) if source is not None else None
            self._back_end = BackEndFigures(ask, self.interval_s) if ask else None
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._run, args=(self._back_end,), name="today-figures", daemon=True).start()

    def _run(self, back_end: BackEndFigures | None) -> None:
        while True:
            try:
                glance = at_a_glance(self.ledger, back_end)
            except Exception:  # noqa: BLE001 - figures are a convenience: never take the app down
                log.exception("could not compute today's figures")
                glance = None
            if glance is not None:
                self.glance = glance
                self.updated.emit(glance)
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False

    def stop(self) -> None:
        self._timer.stop()
        self._settle.stop()


def _money(figures: DayFigures, language: str) -> str:
    return wording.display_amount(figures.takings, language) or "0"


def glance_header(glance: Glance, language: str) -> str:
    """The orders window's header line: today's figures with yesterday and last week beside."""
    today = glance.today
    average = wording.display_amount(today.average_order, language) if today.average_order is not None else "—"
    by_state = "  ".join(f"{state_text(s)} {today.by_state.get(s, 0)}" for s in order_state.STATES
                         if today.by_state.get(s, 0))
    first = (translate("OrderLife", "Today: takings %1 · valid orders %2 · average %3")
             .replace("%1", _money(today, language)).replace("%2", str(today.valid_orders)).replace("%3", average))
    second = (translate("OrderLife", "Yesterday %1 (valid orders %2) · Last %3 %4 (valid orders %5)")
              .replace("%1", _money(glance.yesterday, language)).replace("%2", str(glance.yesterday.valid_orders))
              .replace("%3", _weekday(glance.last_week)).replace("%4", _money(glance.last_week, language))
              .replace("%5", str(glance.last_week.valid_orders)))
    return "\n".join(p for p in (first, by_state, second) if p)


def glance_tooltip(glance: Glance, language: str) -> str:
    """One line for the tray's tooltip."""
    today = glance.today
    return (translate("OrderLife", "Today %1 · valid orders %2 · yesterday %3")
            .replace("%1", _money(today, language)).replace("%2", str(today.valid_orders))
            .replace("%3", _money(glance.yesterday, language)))


def _weekday(figures: DayFigures) -> str:
    return [translate("OrderLife", "Monday"), translate("OrderLife", "Tuesday"), translate("OrderLife", "Wednesday"), translate("OrderLife", "Thursday"), translate("OrderLife", "Friday"), translate("OrderLife", "Saturday"),
            translate("OrderLife", "Sunday")][figures.day.weekday()]
