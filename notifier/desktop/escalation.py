"""Escalation on the PC: the Qt side of `core.escalation`.

One single-shot timer, started only while a step is due later, runs the policy's steps:
- an order unacted on for `escalation.louder_after` minutes is announced again with the urgent
  chime (mastered louder, packaging/tools/make_chimes.py), and its repeats from then on ring that
  chime too (the alert centre asks `is_urgent`);
- after `escalation.phone_after` minutes it is sent to the owner's phone (`core.phone_sender`,
  which never blocks this thread: sending happens on its own threads);
- a connection down for `escalation.connection_after` minutes while the shop is open is sent to
  the phone, and so is its return, with how many orders arrived meanwhile.

"While the shop is open": there are no opening hours yet, so `escalation.connection_when` is the
hook: "always", or "outside_quiet_hours" (the quiet hours then stand for "closed").

Which orders still wait is the ledger's answer at the moment a step is due, so an order
acknowledged, accepted or rejected here, or ended elsewhere, never escalates.

Orders the ledger has waiting when the app starts (it was closed, crashed or the PC restarted)
escalate on their own schedule, counted from when they arrived, if they arrived within the last
`RESUME_WITHIN_S`: older ones are settled one way or another by then, as the phone sender's
give-up time says (core.phone_sender.GIVE_UP_AFTER_S), and the phone is not woken for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from notifier.core import escalation_wording as words
from notifier.core import wording
from notifier.core.connection import ConnectionStatus
from notifier.core.escalation import (
    ConnectionEscalation,
    ConnectionEscalations,
    OrderEscalation,
    OrderEscalations,
    Step,
)
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.phone_sender import GIVE_UP_AFTER_S, PhoneSender, TargetReader
from notifier.core.settings import Settings

log = logging.getLogger(__name__)

URGENT_CHIME = "urgent"
RESUME_WITHIN_S = GIVE_UP_AFTER_S
RESUME_LIMIT = 1000  # waiting orders read at start (the newest); a burst beyond is one message anyway
NOTIFICATION_KEY = "escalation"


class Escalations(QObject):
    #: what the phone alerts lack, for the tray tooltip ("" when all is well)
    problem_changed = Signal(str)
    #: a phone message was queued (title): the console mode prints it
    phoned = Signal(str)
    _sender_changed = Signal()  # from the sender's threads, delivered on this object's thread

    def __init__(self, settings: Settings, ledger: Ledger, notifier, announcer, read_targets: TargetReader,
                 *, sender_options: Mapping[str, Any] | None = None, voice_allowed: Callable[[], bool] = lambda: True,
                 repeating: Callable[[], Iterable[OrderEvent]] = tuple,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = datetime.now, parent: QObject | None = None):
        super().__init__(parent)
        self.ledger = ledger
        self.notifier = notifier
        self.announcer = announcer
        # Built here so its news (from its threads) comes back through this object's signal.
        self.sender = PhoneSender(read_targets, on_change=self._sender_changed.emit, **(sender_options or {}))
        self._voice_allowed = voice_allowed
        self._repeating = repeating
        self._clock = clock
        self._now = now
        self._urgent: set[str] = set()
        self._problem = ""
        self.settings = settings
        self.orders = OrderEscalations(0, 0, still_waiting=ledger.unacknowledged_among, clock=clock)
        self.connection = ConnectionEscalations(0, in_hours=self._open, clock=clock)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.check_now)
        self._resume_waiting()
        self.apply_settings(settings)
        self._sender_changed.connect(self._sender_news)

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        self._language = wording.effective_language(settings)
        self.orders.configure(settings["escalation.louder_after"] * 60.0,
                              settings["escalation.phone_after"] * 60.0)
        self.connection.configure(settings["escalation.connection_after"] * 60.0)
        self._schedule()

    def _resume_waiting(self) -> None:
        wall = self._now().timestamp()
        try:
            entries = self.ledger.recent(RESUME_LIMIT, since=wall - RESUME_WITHIN_S, unacknowledged_only=True)
        except Exception:  # noqa: BLE001 - the ledger's own fault is shown elsewhere; new orders still escalate
            log.exception("the waiting orders could not be read for escalation")
            return
        self.orders.resumed((entry.event, wall - entry.received_at) for entry in reversed(entries)
                            if entry.ended_how is None)

    def stop(self) -> None:
        self._timer.stop()
        self.sender.stop()

    # -- what happens ------------------------------------------------------------------------

    def on_orders(self, events: list[OrderEvent]) -> None:
        """New events, already on disk (the bridge's batch)."""
        self.orders.arrived(events)
        self.connection.arrived(sum(1 for e in events if e.kind is OrderKind.NEW_ORDER))
        self._schedule()

    def on_status(self, status: ConnectionStatus) -> None:
        self.connection.status(status.healthy, status.server)
        self._schedule()

    def is_urgent(self, key: str) -> bool:
        """Whether this order's repeats ring the urgent chime (it has waited too long)."""
        return key in self._urgent

    def check_now(self) -> None:
        """Take every step that is due (the timer calls this; tests with a fake clock too)."""
        try:
            for step in self.orders.due():
                self._take(step)
            lost_or_back = self.connection.due()
            if lost_or_back is not None:
                self._phone_connection(lost_or_back)
        finally:
            self._schedule()

    def send_test(self) -> None:
        """A test message to every target (queued like any other)."""
        self._phone(words.trial_message(self._shop(), self._language))

    # -- the steps ---------------------------------------------------------------------------

    def _take(self, step: OrderEscalation) -> None:
        if step.step is Step.LOUDER:
            self._louder(step)
        else:
            waits = {event.key: step.waited_s for event in step.orders}
            self._phone(words.orders_message(step.orders, step.waited_s, self._shop(),
                                             self._language, waits))

    def _louder(self, step: OrderEscalation) -> None:
        repeating = {event.key for event in self._repeating()}
        self._urgent = {key for key in self._urgent if key in repeating}
        self._urgent.update(event.key for event in step.orders)
        text = words.louder_announcement(step.orders, step.waited_s, self._language)
        log.info("escalated louder: %d order(s) waited %.0f s", len(step.orders), step.waited_s)
        try:
            self.notifier.show(text, "", key=NOTIFICATION_KEY)
        except Exception:  # noqa: BLE001 - the voice line must still be said
            log.exception("escalation notification failed")
        if self._voice_allowed():
            chime = URGENT_CHIME if self.settings["alerts.chime"] else None
            # Keyed by the order, so acknowledging it drops the line if it is still queued (the
            # alert centre cancels queued lines of acknowledged orders); a group's line stays.
            key = step.orders[0].key if len(step.orders) == 1 else None
            self.announcer.announce(text, chime=chime, key=key)

    def _phone_connection(self, event: ConnectionEscalation) -> None:
        if event.back:
            message = words.connection_back_message(event.down_s, event.orders_meanwhile, event.server,
                                                    self._shop(), self._language)
        else:
            message = words.connection_lost_message(event.down_s, event.server, self._shop(),
                                                    self._language)
        self._phone(message)

    def _phone(self, message: words.PhoneMessage) -> None:
        log.info("to the phone: %s", message.title[:200])
        self.sender.put(message)
        self.phoned.emit(message.title)

    def _shop(self) -> str:
        return words.shop_label(self.settings, self._language)

    def _open(self) -> bool:
        """The opening-hours hook (see the module docstring)."""
        if self.settings["escalation.connection_when"] == "always":
            return True
        from notifier.desktop.alerts import in_quiet_hours

        return not in_quiet_hours(self.settings["alerts.quiet_start"], self.settings["alerts.quiet_end"],
                                  self._now())

    def _schedule(self) -> None:
        times = [t for t in (self.orders.next_due(), self.connection.next_due()) if t is not None]
        if not times:
            self._timer.stop()
            return
        self._timer.start(max(0, int((min(times) - self._clock()) * 1000)))

    def _sender_news(self) -> None:
        problem = "\n".join(self.sender.problems())
        if problem != self._problem:
            self._problem = problem
            self.problem_changed.emit(problem)

