"""The shop's counter in the tray: 营业 / 打烊, the opening hours that switch them, and auto-accept.

The core does the deciding (`core.shop_switch`: the state and how it is sent, on the source's own
back-end client; `core.shop_hours`: the schedule; `core.auto_accept`: which orders accept
themselves). This object follows every running connection whose back end keeps 营业 / 打烊 (the
reference server, sky-take-out), shows each one's state on the tray by its name, asks once before
closing while orders wait, and sends each connection's change from a short-lived thread of its
own (a back end's answer may take seconds, and an unreachable one must not hold up the others'
change nor the tray). A failure is told as a notification naming that connection only.

"打烊" from the tray (or the opening hours) closes every connection that can close, "营业" opens
them all; the tray's per-connection entries change one alone. Auto-accept is each connection's
own setting, and an order asks its own connection's state.

An auto-accepted order goes through `OrderDecisions.accept`, the same outbox as a click (and so the
same ticket when tickets print on accept); instead of ringing it is announced once ("自动接单，
订单 1234，56 元") and shown, and the alert centre never sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from notifier.core import wording
from notifier.core.auto_accept import AutoAccept
from notifier.core.connections import connections_of
from notifier.core.events import OrderEvent
from notifier.core.settings import SettingsError
from notifier.core.shop_hours import HoursKeeper, parse_hours
from notifier.core.shop_switch import ShopChangeFailed, ShopState, ShopSwitch

log = logging.getLogger(__name__)

HOURS_TICK_MS = 20_000  # the schedule is in minutes: a look three times a minute is on time
# How long an order that accepts itself waits for its ticket (after its details may come) before
# it rings instead: a working printer confirms a ticket in well under a second.
TICKET_GRACE_S = 3.0
HELD_POLL_MS = 150


def ask_before_closing(waiting: int) -> bool:
    """Close the shop although `waiting` orders wait for someone? (a modal question)"""
    translate = QCoreApplication.translate
    box = QMessageBox(QMessageBox.Icon.Question, translate("ShopCounter", "Close the shop?"),
                      translate("ShopCounter", "Orders still waiting to be accepted: {count}. Close the shop "
                                "anyway? The waiting orders keep ringing.").format(count=waiting))
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


class ShopCounter(QObject):
    # Each connection whose back end keeps 营业 / 打烊, as tuple[ShopState, ...] in the list's
    # order (empty: none can be switched).
    state_changed = Signal(object)
    # Why auto-accept holds back now ("" when it does not).
    auto_accept_line = Signal(str)
    # Hops from the core's threads to the Qt thread.
    _seen = Signal(object, object)
    _failed = Signal(str, bool, str)  # connection id, the state asked for, the sentence

    def __init__(self, settings, intake, decisions, ledger, print_queue, notifier, announcer,
                 ring: Callable[[list[OrderEvent]], None], waiting: Callable[[], int], voice_allowed: Callable[[], bool] = lambda: True,
                 clock: Callable[[], datetime] = datetime.now, parent: QObject | None = None):
        super().__init__(parent)
        self.intake, self.decisions, self.ledger = intake, decisions, ledger
        self.print_queue, self.notifier, self.announcer = print_queue, notifier, announcer
        self.ring = ring  # the alert centre's door, for held orders whose ticket did not come
        self._held: dict[str, tuple[OrderEvent, float]] = {}  # waiting for their ticket
        self._held_timer = QTimer(self)
        self._held_timer.timeout.connect(self._check_held)
        self._waiting = waiting
        self._voice_allowed = voice_allowed
        self._clock = clock
        self._switches: dict[str, ShopSwitch] = {}  # by connection id, in the list's order
        self._names: dict[str, str] = {}  # connection id -> the name the shop gave it
        self._scopes: dict[str, str] = {}  # connection id -> its orders' scope in the ledger
        self._auto: dict[str, AutoAccept] = {}  # each connection's own auto-accept
        self._printer_problem = ""
        self._line = ""
        self.closing_asker: Callable[[int], bool] = ask_before_closing  # tests answer instead
        self._seen.connect(self._on_seen)
        self._failed.connect(self._on_failed)
        self._hours_timer = QTimer(self)
        self._hours_timer.timeout.connect(self._hours_tick)
        self.apply_settings(settings)

    # -- following the source and the settings ------------------------------------------

    def refresh(self) -> None:
        """Follow the sources running now (a settings change starts, restarts or stops some)."""
        switches: dict[str, ShopSwitch] = {}
        names: dict[str, str] = {}
        scopes: dict[str, str] = {}
        for cid, source in self.intake.sources().items():
            connection = self.intake.connection_of(source)
            names[cid] = connection.name if connection is not None else cid
            scopes[cid] = connection.scope if connection is not None else cid
            if source.shop_switch is not None:
                switches[cid] = source.shop_switch
        same = switches.keys() == self._switches.keys() and all(
            switches[cid] is self._switches[cid] for cid in switches)
        self._names = names
        self._scopes = scopes
        if same:
            return
        for cid, switch in switches.items():
            if self._switches.get(cid) is not switch:
                switch.on_change(lambda is_open, switch=switch: self._seen.emit(switch, is_open))
        self._switches = switches
        self._publish()

    def apply_settings(self, settings) -> None:
        self.settings = settings
        auto: dict[str, AutoAccept] = {}
        for connection in connections_of(settings):
            try:
                own = connection.settings(settings)
            except SettingsError:
                continue  # a misconfigured connection runs no source, so takes no orders
            auto[connection.id] = self._auto.get(connection.id) or AutoAccept(own)
            auto[connection.id].apply_settings(own)  # keeps its count toward the hourly cap
        self._auto = auto
        self._keeper = HoursKeeper(parse_hours(settings["shop.hours"]))
        if self._keeper.hours is None:
            self._hours_timer.stop()
        else:
            self._hours_timer.start(HOURS_TICK_MS)
            QTimer.singleShot(0, self._hours_tick)
        self._update_line()

    def is_open_on(self, connection_id: str | None) -> bool | None:
        """The shop's state on a connection as known here: its back end's, or the opening hours'
        where the back end keeps none (None: not known)."""
        switch = self._switches.get(connection_id or "")
        if switch is not None:
            return switch.is_open
        hours = self._keeper.hours
        return hours.is_open(self._clock()) if hours is not None else True

    def states(self) -> tuple[ShopState, ...]:
        """Each switchable connection's state, in the list's order."""
        return tuple(ShopState(cid, self._names.get(cid, cid), switch.is_open)
                     for cid, switch in self._switches.items())

    def set_printer_problem(self, sentence: str) -> None:
        """The printer's trouble ("" once it prints again): auto-accept pauses, and orders held
        for their ticket ring now rather than at the end of their wait."""
        self._printer_problem = sentence
        if sentence and self._held:
            held, self._held = [event for event, _deadline in self._held.values()], {}
            self._held_timer.stop()
            log.warning("the printer does not print: %d order(s) ring instead of accepting themselves", len(held))
            self.ring(held)
        self._update_line()

    # -- 营业 / 打烊 ------------------------------------------------------------------------

    def want_open(self, is_open: bool) -> bool:
        """A click on the tray's 营业 / 打烊: open or close the shop on every connection that can
        (closing asks once first while orders wait). Returns whether a request was sent off."""
        return self._want(list(self._switches), is_open)

    def want_open_on(self, connection_id: str, is_open: bool) -> bool:
        """A click on one connection's entry: open or close the shop there alone."""
        return self._want([connection_id] if connection_id in self._switches else [], is_open)

    def _want(self, connection_ids: list[str], is_open: bool) -> bool:
        # Those already in the wanted state are left alone (a mixed shop's "营业" opens the closed).
        targets = [cid for cid in connection_ids if self._switches[cid].is_open is not is_open]
        if not targets:
            return False
        if not is_open and set(targets) != set(self._switches):  # some connections alone: theirs
            waiting = self.ledger.unacknowledged_orders(self._scopes.get(cid, cid) for cid in targets)
        else:
            waiting = self._waiting()
        if not is_open and waiting and not self.closing_asker(waiting):
            return False
        for cid in targets:
            self._send(cid, is_open)
        return True

    def _send(self, connection_id: str, is_open: bool) -> None:
        """One thread per connection: an unreachable back end waits out its own timeout only."""
        switch = self._switches[connection_id]

        def run() -> None:
            try:
                switch.request(is_open)
            except ShopChangeFailed as exc:
                self._failed.emit(connection_id, is_open, str(exc))

        threading.Thread(target=run, name=f"shop-switch-{connection_id}", daemon=True).start()

    def _hours_tick(self) -> None:
        wanted = self._keeper.tick(self._clock())
        if wanted is None:
            return
        for cid, switch in self._switches.items():
            if switch.is_open != wanted:
                log.info("opening hours: %s the shop on %s", "opening" if wanted else "closing",
                         self._names.get(cid, cid))
                self._send(cid, wanted)

    def _on_seen(self, switch: ShopSwitch, _is_open) -> None:
        if any(switch is mine for mine in self._switches.values()):
            self._publish()

    def _on_failed(self, connection_id: str, is_open: bool, sentence: str) -> None:
        translate = QCoreApplication.translate
        if len(self._switches) > 1:  # which of the shop's platforms did not follow
            title = (translate("ShopCounter", "The shop was not opened on %1") if is_open
                     else translate("ShopCounter", "The shop was not closed on %1"))
            title = title.replace("%1", self._names.get(connection_id, connection_id))
        else:
            title = (translate("ShopCounter", "The shop was not opened") if is_open
                     else translate("ShopCounter", "The shop was not closed"))
        log.warning("%s: %s", title, sentence)
        self.notifier.show(title, sentence)

    def _publish(self) -> None:
        self.state_changed.emit(self.states())
        self._update_line()

    # -- auto-accept ------------------------------------------------------------------------

    @property
    def auto_accepting(self) -> bool:
        """Whether auto-accept is on for any connection."""
        return any(auto.enabled for auto in self._auto.values())

    def _update_line(self) -> None:
        named = len(self._auto) > 1
        lines = []
        for cid, auto in self._auto.items():
            if not auto.enabled:
                continue
            line = auto.paused_because(shop_open=self.is_open_on(cid), printer_problem=self._printer_problem)
            if line:
                lines.append(f"{self._names.get(cid, cid)}: {line}" if named else line)
        line = "; ".join(dict.fromkeys(lines))
        if line != self._line:
            self._line = line
            if line:
                log.warning("%s", line)
            elif self.auto_accepting:
                log.info("auto-accept resumes")
            self.auto_accept_line.emit(line)

    def take_auto_accepted(self, events: list[OrderEvent]) -> list[OrderEvent]:
        """Take the new orders that accept themselves; returns the rest, for the alert centre.
        Where tickets print as orders arrive, an order is held (silent) until its ticket is
        printed, then accepted; a ticket not printed in time lets the order ring instead."""
        if not self.auto_accepting or not self.decisions.available:
            return events
        rest = []
        for event in events:
            # The order's own connection: its auto-accept switch, its shop's state.
            cid = self.intake.connection_for(event)
            auto = self._auto.get(cid or "")
            if auto is None or self.decisions.actions_for(event) is None:
                rest.append(event)
                continue
            pending = sum(1 for held, _deadline in self._held.values() if self.intake.connection_for(held) == cid)
            verdict = auto.decide(event, shop_open=self.is_open_on(cid), printer_problem=self._printer_problem,
                                  pending=pending)
            if not verdict.accept:
                rest.append(event)
            elif self.settings["printer.print_on"] == "new_order":
                self._held[event.key] = (event, time.monotonic() + event.details_wait_s() + TICKET_GRACE_S)
            elif not self._accept(event):
                rest.append(event)
        if self._held and not self._held_timer.isActive():
            self._held_timer.start(HELD_POLL_MS)
        self._update_line()
        return rest

    def _check_held(self) -> None:
        """Orders waiting for their ticket: accepted once it is printed, ringing when it is late."""
        late = []
        for key, (event, deadline) in list(self._held.items()):
            if self.print_queue.order_printed(key):
                del self._held[key]
                if not self._accept(event):
                    late.append(event)
            elif time.monotonic() >= deadline:
                del self._held[key]
                log.warning("order %s: its ticket was not printed in time; it rings instead of being "
                            "accepted by itself", event.order_id)
                late.append(event)
        if not self._held:
            self._held_timer.stop()
        if late:
            self.ring(late)

    def _accept(self, event: OrderEvent) -> bool:
        entry = self.ledger.find(event.key)
        if entry is not None and entry.ended_how:
            self.ledger.mark_told([event.key])  # decided elsewhere meanwhile: nothing to say
            return True
        if not self.decisions.accept(event):
            return False
        auto = self._auto.get(self.intake.connection_for(event) or "")
        if auto is not None:
            auto.accepted()
        self.ledger.mark_told([event.key])
        self._tell(event)
        return True

    def _tell(self, event: OrderEvent) -> None:
        language = wording.effective_language(self.settings)
        log.info("order %s accepted by itself", event.order_id)
        if self.settings["alerts.notify_new_order"]:
            self.notifier.show(wording.auto_accepted_title(event, language),
                               wording.notification_body(event, language))
        if self.settings["alerts.voice_new_order"] and self._voice_allowed():
            self.announcer.announce(wording.auto_accepted_announcement(event, language), key=event.key)
