"""The popup lane: an order's notification leaves from the thread that stored it.

Everything an order sets off runs on the Qt main thread after the bridge's queued hand-over
(bridge.py): voice line, badge, repeats, escalation, windows, tickets. The popup does not wait
for that hand-over. Right after the order is on disk, still on its source's thread, the lane
writes the Notify call to the session bus (`Notifier.show_now`, a write that never waits), so
neither the hop to the main thread (~0.1 ms) nor the main thread's other work in that turn
(escalation's bookkeeping, a window being drawn, a dialog) comes before the popup. The alert
centre then asks `take_shown(key)` for each event and does everything else as before.

The lane shows only what needs no main-thread state to decide, and steps aside otherwise (the
alert centre then shows the popup the usual way, a turn later):
- kinds the alert centre pops up one by one (new order, reminder), with that kind's popups on;
- not while auto-accept may take the order (the shop counter decides that on the main thread,
  and an order it takes never rings);
- the burst rule: at most `alerts.burst_threshold` popups in one burst window, the window kept
  the way the alert centre keeps its own; beyond that the centre's summary tells the rest;
- only a write that cannot wait: no bus connection yet, another write half done or a popup
  queued before this one, and the main thread shows it (in order).
Everything here is a few dictionary reads and one lock; it runs on any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from notifier.core import wording
from notifier.core.events import OrderEvent, OrderKind

# One burst window opens at the first order and closes this long after it; while orders beyond
# the threshold keep coming it stays open longer, but never past BURST_MAX_S from its start.
BURST_WINDOW_S = 1.0
BURST_MAX_S = 3.0
POPUP_SETTING = {OrderKind.NEW_ORDER: "alerts.notify_new_order", OrderKind.REMINDER: "alerts.notify_reminder"}


def popup_text(event: OrderEvent, language: str, decision_note: str = "") -> tuple[str, str]:
    """An order's notification: its title and body (and, for a new order where the back end
    takes no decisions, the line that says so)."""
    body = wording.notification_body(event, language)
    if decision_note and event.kind is OrderKind.NEW_ORDER:
        body = f"{body}\n{decision_note}" if body else decision_note
    return wording.notification_title(event, language), body


@dataclass(frozen=True, slots=True)
class _Rules:
    """What the lane decides by; replaced whole from the main thread (one reference swap)."""

    popups: frozenset[OrderKind]  # the kinds whose popups are on
    threshold: int  # alerts.burst_threshold
    language: str
    decision_note: str


class BurstGate:
    """Counts popups per burst window, like the alert centre's window: True for the first
    `threshold` of a window, False for the rest (which the centre's summary tells)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self._started = 0.0
        self._closes_at = float("-inf")
        self._count = 0

    def take(self, threshold: int) -> bool:
        now = self._monotonic()
        if now >= self._closes_at:
            self._started, self._closes_at, self._count = now, now + BURST_WINDOW_S, 0
        self._count += 1
        if self._count <= threshold:
            return True
        # Held back: the burst goes on, and so does its window (up to its longest).
        self._closes_at = max(self._closes_at, min(now + BURST_WINDOW_S, self._started + BURST_MAX_S))
        return False

    def give_back(self) -> None:
        """A taken place was not used (the popup went the main thread's way after all)."""
        self._count -= 1


class PopupLane:
    """Shows new orders' popups from the thread that stored them (see the module's docstring)."""

    def __init__(self, notifier, *, monotonic: Callable[[], float] = time.monotonic):
        self._notifier = notifier
        self._rules: _Rules | None = None  # None: step aside for everything
        self._lock = threading.Lock()
        self._gate = BurstGate(monotonic)
        self._shown: set[str] = set()
        #: True while the main thread must decide each order itself (auto-accept may take it).
        self.steps_aside: Callable[[], bool] = lambda: False

    def configure(self, settings, language: str, decision_note: str) -> None:
        """The settings, language and decision note in use now (main thread)."""
        self._rules = _Rules(frozenset(kind for kind, name in POPUP_SETTING.items() if settings[name]),
                             int(settings["alerts.burst_threshold"]), language, decision_note)

    def close(self) -> None:
        """Show nothing more (the app is stopping): the main thread decides whatever is left."""
        self._rules = None

    def offer(self, event: OrderEvent) -> None:
        """An event just stored (its source's thread, before the bridge hands it over)."""
        rules = self._rules
        if rules is None or event.kind not in rules.popups or self.steps_aside():
            return
        with self._lock:
            if not self._gate.take(rules.threshold):
                return
        title, body = popup_text(event, rules.language, rules.decision_note)
        shown = False
        try:
            shown = self._notifier.show_now(title, body, key=event.key)
        finally:
            with self._lock:
                if shown:
                    self._shown.add(event.key)
                else:
                    self._gate.give_back()

    def take_shown(self, key: str) -> bool:
        """Whether the lane showed this event's popup (asked once per event, on the main thread)."""
        with self._lock:
            if key in self._shown:
                self._shown.discard(key)
                return True
            return False
