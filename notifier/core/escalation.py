"""When an order nobody acted on, or a connection that stays down, is escalated: the policy.

Two steps for an order: after `louder_after_s` it rings louder (the desktop plays the urgent
chime), after `phone_after_s` it is sent to the owner's phone. Each order takes each step at most
once. Orders whose step falls due within `GATHER_S` of each other take it together, so a burst of
fifty orders becomes one message, not fifty; and two phone messages are at least `PHONE_GAP_S`
apart (whatever fell due meanwhile goes in the second), so the phone is never flooded.

A connection that has been down for `connection_after_s` (while `in_hours` says the shop is open)
is one "lost" message; when it is back, one "back" message says how long it was down and how many
orders arrived meanwhile. Orders caught up on reconnect arrive a few seconds after the connection
is back, so the count is taken `BACK_SETTLE_S` after it.

Nothing here knows Qt, the network or the wall clock: time comes from `clock` (monotonic seconds)
and "is this order still waiting?" from `still_waiting` (the ledger in the app), so the tests
drive minutes of waiting in microseconds and the reference server can use the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from notifier.core.events import OrderEvent, OrderKind

# Orders whose step falls due within this many seconds of the first one take it with it.
GATHER_S = 30.0
# At least this long between two messages to the phone about orders.
PHONE_GAP_S = 60.0
# How long after the connection is back the "back" message waits for the caught-up orders.
BACK_SETTLE_S = 20.0
# Outside opening hours a lost connection is looked at again this often.
CLOSED_RECHECK_S = 60.0


class Step(IntEnum):
    LOUDER = 1
    PHONE = 2


@dataclass(frozen=True, slots=True)
class OrderEscalation:
    """One step taken by one or more orders together (oldest first)."""

    step: Step
    orders: tuple[OrderEvent, ...]
    waited_s: float  # how long the oldest of them has waited


@dataclass(frozen=True, slots=True)
class ConnectionEscalation:
    """The connection was lost (`back` False) or is back (`back` True)."""

    back: bool
    down_s: float  # how long it has been (or was) down
    orders_meanwhile: int = 0  # only for `back`
    server: str = ""


@dataclass(slots=True)
class _Waiting:
    event: OrderEvent
    since: float
    steps_done: int = 0  # the highest Step taken


class OrderEscalations:
    """Which waiting orders take which step when; see the module docstring."""

    def __init__(self, louder_after_s: float, phone_after_s: float, *,
                 still_waiting: Callable[[Iterable[str]], set[str]],
                 clock: Callable[[], float] = time.monotonic):
        self.louder_after_s = louder_after_s
        self.phone_after_s = phone_after_s
        self._still_waiting = still_waiting
        self._clock = clock
        self._waiting: dict[str, _Waiting] = {}
        self._last_phone: float | None = None

    def configure(self, louder_after_s: float, phone_after_s: float) -> None:
        """New step times (0: that step is off); orders already waiting keep their arrival."""
        self.louder_after_s, self.phone_after_s = louder_after_s, phone_after_s

    def arrived(self, events: Iterable[OrderEvent]) -> None:
        """New orders (reminders, cancellations and the like are not orders to act on)."""
        now = self._clock()
        for event in events:
            if event.kind is OrderKind.NEW_ORDER and event.key not in self._waiting:
                self._waiting[event.key] = _Waiting(event.without_frame(), now)

    def resumed(self, waiting: Iterable[tuple[OrderEvent, float]]) -> None:
        """Orders already waiting when this run began, each with how long it has waited: they
        keep their place in the schedule (one that waited four minutes before a restart takes
        the phone step a minute after it, not five), and a step that fell due while the app was
        not running is taken at the first check. Which steps an order took in an earlier run is
        not known here: one phoned before a restart may be phoned once more after it."""
        now = self._clock()
        for event, waited_s in waiting:
            if event.kind is OrderKind.NEW_ORDER and event.key not in self._waiting:
                self._waiting[event.key] = _Waiting(event.without_frame(), now - max(0.0, waited_s))

    def settled(self, keys: Iterable[str]) -> None:
        """These orders were acknowledged, accepted, rejected or ended elsewhere."""
        for key in keys:
            self._waiting.pop(key, None)

    def waiting(self) -> int:
        return len(self._waiting)

    def _after(self, step: Step) -> float:
        return self.louder_after_s if step is Step.LOUDER else self.phone_after_s

    def _due_at(self, waiting: _Waiting, step: Step) -> float | None:
        after = self._after(step)
        if after <= 0 or waiting.steps_done >= step:
            return None
        due = waiting.since + after
        if step is Step.PHONE and self._last_phone is not None:
            due = max(due, self._last_phone + PHONE_GAP_S)
        return due

    def next_due(self) -> float | None:
        """When (clock seconds) the next step falls due; None when nothing waits for one."""
        times = [t for w in self._waiting.values() for step in Step
                 if (t := self._due_at(w, step)) is not None]
        return min(times) if times else None

    def due(self) -> list[OrderEscalation]:
        """The steps due now, each with every order that takes it (at most one per step).

        Orders the ledger no longer has waiting are dropped first: an order acknowledged or
        ended anywhere never escalates, however nobody told this object.
        """
        now = self._clock()
        times = {key: [(step, t) for step in Step if (t := self._due_at(w, step)) is not None]
                 for key, w in self._waiting.items()}
        if not any(t <= now for steps in times.values() for _step, t in steps):
            return []
        near = [key for key, steps in times.items() if any(t <= now + GATHER_S for _s, t in steps)]
        still = self._still_waiting(near)
        self.settled(key for key in near if key not in still)
        taken: list[OrderEscalation] = []
        # The phone first: an order that takes it has no use for "louder" any more.
        for step in (Step.PHONE, Step.LOUDER):
            group = [(t, w) for key in near if key in self._waiting
                     for w in (self._waiting[key],)
                     if (t := self._due_at(w, step)) is not None and t <= now + GATHER_S]
            if not group or min(t for t, _w in group) > now:
                continue
            for _t, w in group:
                w.steps_done = step
            if step is Step.PHONE:
                self._last_phone = now
            events = sorted((w for _t, w in group), key=lambda w: w.since)
            taken.append(OrderEscalation(step, tuple(w.event for w in events), now - events[0].since))
        # An order that has taken every step that is on needs nothing more from here.
        for key in [k for k, w in self._waiting.items() if w.steps_done and
                    all(self._due_at(w, step) is None for step in Step)]:
            del self._waiting[key]
        return taken[::-1]


class ConnectionEscalations:
    """One "lost" message for a connection down `after_s` in opening hours, one "back" message."""

    def __init__(self, after_s: float, *, in_hours: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.monotonic):
        self.after_s = after_s
        self._in_hours = in_hours
        self._clock = clock
        self._down_since: float | None = None
        self._was_up = False
        self._lost_sent = False
        self._back_at: float | None = None
        self._orders = 0
        self._server = ""
        self._look_again_at = 0.0  # closed when the message fell due: look again then

    def configure(self, after_s: float, in_hours: Callable[[], bool] | None = None) -> None:
        self.after_s = after_s
        if in_hours is not None:
            self._in_hours = in_hours

    def status(self, healthy: bool, server: str = "") -> None:
        """The connection's state changed (or was said again)."""
        now = self._clock()
        if server:
            self._server = server
        if healthy:
            self._was_up = True
            if self._down_since is not None:
                if self._lost_sent and self._back_at is None:
                    self._back_at = now
                if not self._lost_sent:
                    self._down_since = None  # a short drop nobody was told about
        elif self._was_up and self._down_since is None:
            # Counted from the first time it was up: a PC started while the server is down says
            # so in the tray; the phone hears about connections that were working and broke.
            self._down_since = now
            self._orders = 0
            self._look_again_at = 0.0
        elif self._back_at is not None:
            self._back_at = None  # down again before "back" was said: still the same outage

    def arrived(self, count: int) -> None:
        """New orders stored; counted while a "lost" message is out and until "back" is said."""
        if self._down_since is not None:
            self._orders += count

    def next_due(self) -> float | None:
        if self._down_since is None:
            return None
        if self._back_at is not None:
            return self._back_at + BACK_SETTLE_S
        if self._lost_sent or self.after_s <= 0:
            return None
        return max(self._down_since + self.after_s, self._look_again_at)

    def due(self) -> ConnectionEscalation | None:
        due_at = self.next_due()
        now = self._clock()
        if due_at is None or due_at > now:
            return None
        down_since = self._down_since or now
        if self._back_at is not None:
            message = ConnectionEscalation(True, self._back_at - down_since, self._orders, self._server)
            self._down_since = self._back_at = None
            self._lost_sent = False
            self._orders = 0
            return message
        if not self._in_hours():
            # Closed: nobody needs the phone to ring now; look again in a minute.
            self._look_again_at = now + CLOSED_RECHECK_S
            return None
        self._lost_sent = True
        return ConnectionEscalation(False, now - down_since, 0, self._server)
