"""The alert centre: decides what the shop owner sees and hears for each order.

Per new event: a notification (if that kind's notification is on), a voice line queued behind
the one being spoken, the tray badge. Unacknowledged new orders are announced again every
`alerts.repeat_interval` seconds up to `alerts.repeat_limit` times. More than
`alerts.burst_threshold` orders within about a second become one summary notification and one
summary announcement. Quiet hours and "mute" silence the voice only; notifications still show.
A connection that stays down for `alerts.disconnect_alert_after` seconds is announced once, and
its return is announced too.

When an order is accepted or rejected (here or on another PC) or cancelled by the customer,
`order_ended` takes back what was told about it: its repeats end, its line stops mid-word, its
popups are closed (decided here) or replaced by who decided (elsewhere, without the buttons), and
a cancellation is said aloud once. Where the back end takes no decisions, each new order's popup
says so (`set_decision_note`): stopping the ringing here tells the shop's system nothing.

Some back ends send a new order without what it is worth and the source fetches the details
right after storing it; such an event says until when they may come (`details_due`). Its popup
shows at once and is updated in place when the details come; its voice line waits for them as
long as the event's own rule says (`OrderEvent.details_wait_s`, the rule the ticket follows too;
the chime would come first anyway), then says the amount, or is said without it.

Everything here runs on the Qt main thread and is cheap: no ledger query per event (one count
per batch), and timers run only while something is due, so an idle app uses no CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from notifier.core import wording
from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ending, Ledger
from notifier.core.order_links import order_url
from notifier.core.settings import Settings, parse_hhmm
from notifier.core.shop_hours import quiet_by_hours
from notifier.desktop.popup_lane import BURST_MAX_S, BURST_WINDOW_S, PopupLane, popup_text

log = logging.getLogger(__name__)

BURST_WINDOW_MS = round(BURST_WINDOW_S * 1000)
# Orders coming faster than they can be read out (about 5 s a line): once this many lines wait,
# the new orders among them are read as one line, "您有 N 个新订单", so the voice never lags.
VOICE_BACKLOG_LINES = 3
BACKLOG_KEY = "summary|backlog"
CONNECTION_KEY = "connection"
# A burst that keeps coming is summarised at least this often, so the summary is never late.
BURST_MAX_MS = round(BURST_MAX_S * 1000)
ALERTED_KINDS = (OrderKind.NEW_ORDER, OrderKind.REMINDER)
CHIMES = {OrderKind.NEW_ORDER: "new_order", OrderKind.REMINDER: "reminder"}


@dataclass(slots=True)
class _Repeat:
    key: str
    event: OrderEvent
    done: int
    due: float  # monotonic seconds


def _is_own_key(key: str) -> bool:
    """Keys of lines the alert centre makes itself (summaries, connection), not of a ledger event."""
    return key == CONNECTION_KEY or key.startswith("summary|")


def in_quiet_hours(start: str, end: str, now: datetime) -> bool:
    """Whether `now` falls in [start, end) (HH:MM); a range may wrap past midnight."""
    begin, finish = parse_hhmm(start) if start else None, parse_hhmm(end) if end else None
    if begin is None or finish is None or begin == finish:
        return False
    minute = now.hour * 60 + now.minute
    a, b = begin[0] * 60 + begin[1], finish[0] * 60 + finish[1]
    return a <= minute < b if a < b else (minute >= a or minute < b)


def next_morning(now: datetime) -> datetime:
    """"Until tomorrow" means until the next local midnight."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


class AlertCentre(QObject):
    #: unacknowledged orders (the tray badge); emitted once per batch, only when it changed
    badge_changed = Signal(int)
    #: a notification was shown: (title, body) — the console mode prints it
    notified = Signal(str, str)
    #: the owner clicked a notification and no order URL is set: show this order in the window
    show_order = Signal(object)
    #: voice mute state changed: the menu choice it corresponds to (tray.MUTE_*)
    mute_changed = Signal(int)

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        notifier,
        announcer,
        parent: QObject | None = None,
        *,
        now: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        super().__init__(parent)
        self.settings = settings
        self.ledger = ledger
        self.notifier = notifier
        self.announcer = announcer
        self._now = now
        self._monotonic = monotonic
        self._language = wording.effective_language(settings)
        self._badge = -1
        self._repeats: dict[str, _Repeat] = {}
        self._muted_until: datetime | None = None

        self._repeat_timer = QTimer(self, singleShot=True)
        self._repeat_timer.timeout.connect(self._repeat_due)

        # Burst detection: a window opens at the first order and closes ~1 s later.
        self._window_open = False
        self._window_started = 0.0
        self._window_count = 0
        self._window_kinds: dict[OrderKind, int] = {}
        self._held = 0  # orders in this window beyond the threshold, summarised at its end
        self._held_keys: list[str] = []  # their keys: told (in the ledger) once summarised
        self._burst_timer = QTimer(self, singleShot=True)
        self._burst_timer.timeout.connect(self._close_window)

        self._down_timer = QTimer(self, singleShot=True)
        self._down_timer.timeout.connect(self._announce_down)
        self._was_connected = False
        self._down_announced = False
        self._waiting_orders: set[str] = set()  # keys of order lines the voice may not have read yet
        self._backlog_count = 0  # orders in the waiting backlog summary line
        self._status: ConnectionStatus | None = None

        self._mute_timer = QTimer(self, singleShot=True)
        self._mute_timer.timeout.connect(self.unmute)

        # Voice lines waiting for their order's details: key -> (the event, its deadline timer).
        self._voice_held: dict[str, tuple[OrderEvent, QTimer]] = {}
        self._decision_note = ""  # added to new orders' popups where the back end takes no decisions
        # New orders' popups shown from the thread that stored them (popup_lane.py); the app
        # hands it each event before the bridge does.
        self.lane = PopupLane(notifier, monotonic=monotonic)
        self.lane.configure(settings, self._language, self._decision_note)

        notifier.activated.connect(self.activated)

        # Escalation (desktop/escalation.py) says which orders have waited too long: their
        # repeats ring its urgent chime instead of the new-order one.
        self.is_urgent: Callable[[str], bool] = lambda _key: False

    def stop(self) -> None:
        """No more repeats, summaries or announcements: the ledger is about to close."""
        self.lane.close()
        for timer in (self._repeat_timer, self._burst_timer, self._down_timer, self._mute_timer):
            timer.stop()
        self._repeats.clear()
        for _event, timer in self._voice_held.values():
            timer.stop()  # left untold: the next start tells them again rather than never
        self._voice_held.clear()

    # -- settings ------------------------------------------------------------------------

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        self._language = wording.effective_language(settings)
        self.lane.configure(settings, self._language, self._decision_note)
        self._schedule_repeat()

    # -- orders --------------------------------------------------------------------------

    def on_order(self, event: OrderEvent) -> None:
        self.on_orders([event])

    def on_orders(self, events: list[OrderEvent]) -> None:
        """A batch of new events (already on disk), in arrival order."""
        threshold = self.settings["alerts.burst_threshold"]
        now = self._monotonic()
        if not self._window_open:
            self._window_open = True
            self._window_started = now
            self._window_count = 0
            self._window_kinds = {}
            self._held = 0
            self._burst_timer.start(BURST_WINDOW_MS)
        told = []
        for event in events:
            if event.kind not in ALERTED_KINDS:
                told.append(event.key)
                continue
            self._window_count += 1
            self._window_kinds[event.kind] = self._window_kinds.get(event.kind, 0) + 1
            if event.kind is OrderKind.NEW_ORDER:
                self._track_repeat(event, now)
            shown = self.lane.take_shown(event.key)
            if self._window_count <= threshold or shown:
                if self._alert_one(event, shown=shown):
                    told.append(event.key)
            else:
                self._held += 1
                self._held_keys.append(event.key)
        # Popups shown and voice lines queued: a crash from here on does not lose these orders.
        self.ledger.mark_told(told)
        if self._held:
            # Still bursting: keep the window open a little longer, but not forever.
            remaining = BURST_MAX_MS - (now - self._window_started) * 1000
            self._burst_timer.start(int(max(0, min(BURST_WINDOW_MS, remaining))))
        self._schedule_repeat()
        self.refresh_badge()

    def set_decision_note(self, note: str) -> None:
        """A line for new orders' popups ("" for none): where the back end takes no decisions,
        that it must be accepted in the shop's own system."""
        self._decision_note = note
        self.lane.configure(self.settings, self._language, note)

    def _alert_one(self, event: OrderEvent, *, shown: bool = False) -> bool:
        """Popup (unless the popup lane `shown` it already) and voice line for one event; False
        when its voice line waits for the order's details (the event is marked told once that
        line is queued)."""
        kind = "new_order" if event.kind is OrderKind.NEW_ORDER else "reminder"
        if shown or self.settings[f"alerts.notify_{kind}"]:
            self._notify(*popup_text(event, self._language, self._decision_note), key=event.key,
                         shown=shown)
        if self.settings[f"alerts.voice_{kind}"] and self.voice_allowed():
            wait_s = event.details_wait_s() if event.kind is OrderKind.NEW_ORDER else 0.0
            if wait_s > 0:
                timer = QTimer(self, singleShot=True)
                timer.timeout.connect(lambda key=event.key: self._details_late(key))
                self._voice_held[event.key] = (event, timer)
                timer.start(max(1, round(wait_s * 1000)))
                return False
            self._voice_line(event)
        return True

    def on_details(self, event: OrderEvent) -> None:
        """An order told earlier, as its details made it: its popup updated in place, its repeats
        and its waiting voice line say the amount."""
        repeat = self._repeats.get(event.key)
        if repeat is not None:
            repeat.event = event.without_frame()
        if event.kind is OrderKind.NEW_ORDER and self.settings["alerts.notify_new_order"]:
            try:
                # Only a notification this centre showed for the key is replaced; none is added.
                self.notifier.update(*popup_text(event, self._language, self._decision_note),
                                     key=event.key)
            except Exception:  # noqa: BLE001 - the voice line must still be said
                log.exception("notification update failed")
        held = self._voice_held.pop(event.key, None)
        if held is not None:
            held[1].stop()
            held[1].deleteLater()
            self._release_voice(event)

    def _details_late(self, key: str) -> None:
        """The details did not come in time: the line is said with what the frame had."""
        held = self._voice_held.pop(key, None)
        if held is not None:
            held[1].deleteLater()
            self._release_voice(held[0])

    def _release_voice(self, event: OrderEvent) -> None:
        if self.settings["alerts.voice_new_order"] and self.voice_allowed():
            self._voice_line(event)
        self.ledger.mark_told([event.key])  # popup shown and voice line queued

    def _voice_line(self, event: OrderEvent) -> None:
        if event.kind is OrderKind.NEW_ORDER and self.announcer.pending() > VOICE_BACKLOG_LINES:
            self._summarise_backlog()
        else:
            if self.announcer.pending() == 0:
                self._waiting_orders.clear()  # everything queued before has been read out
            if event.kind is OrderKind.NEW_ORDER:
                self._waiting_orders.add(event.key)
            self._say(wording.announcement(event, self.settings, self._language), CHIMES[event.kind], event.key)

    def _summarise_backlog(self) -> None:
        """One more new order than the voice can keep up with: the new orders still waiting to be
        read out, this one included, become a single line."""
        dropped = self.announcer.drop_waiting(self._waiting_orders | {BACKLOG_KEY})
        count = 1 + sum(1 for key in dropped if key != BACKLOG_KEY)
        if BACKLOG_KEY in dropped:
            count += self._backlog_count
        self._waiting_orders.clear()  # the ones not dropped are being spoken or were spoken
        self._backlog_count = count
        self._say(wording.summary_announcement(count, OrderKind.NEW_ORDER, self._language),
                  CHIMES[OrderKind.NEW_ORDER], BACKLOG_KEY)

    def _close_window(self) -> None:
        held, kinds, total = self._held, self._window_kinds, self._window_count
        held_keys, self._held_keys = self._held_keys, []
        self._window_open = False
        self._held = 0
        if not held:
            return
        log.info("burst of %d events summarised", total)
        for kind, count in kinds.items():
            setting = "new_order" if kind is OrderKind.NEW_ORDER else "reminder"
            if self.settings[f"alerts.notify_{setting}"]:
                self._notify(
                    wording.summary_title(count, kind, self._language),
                    wording.summary_announcement(count, kind, self._language),
                    key=f"summary|{kind}",
                )
            if self.settings[f"alerts.voice_{setting}"] and self.voice_allowed():
                self.announcer.clear()  # the individual lines of this burst are covered by it
                self._say(wording.summary_announcement(count, kind, self._language), CHIMES[kind], None)
        self.ledger.mark_told(held_keys)

    def _notify(self, title: str, body: str, *, key: str | None, shown: bool = False) -> None:
        if not shown:
            try:
                self.notifier.show(title, body, key=key)
            except Exception:  # noqa: BLE001 - a notification problem must not lose the voice line
                log.exception("notification failed")
        log.info("notify: %s", title[:200])  # after the popup is on its way: a log write is slow
        self.notified.emit(title, body)

    def _say(self, text: str, chime: str | None, key: str | None) -> None:
        if not self.settings["alerts.chime"]:
            chime = None
        log.info("announce: %s", text[:200])
        try:
            self.announcer.announce(text, chime=chime, key=key)
        except Exception:  # noqa: BLE001
            log.exception("announcement failed")

    # -- repeats -------------------------------------------------------------------------

    def _track_repeat(self, event: OrderEvent, now: float) -> None:
        interval = self.settings["alerts.repeat_interval"]
        if interval <= 0 or self.settings["alerts.repeat_limit"] <= 0:
            return
        # Without the raw frame: it is in the ledger, and a shop that never acknowledges keeps
        # `repeat_limit` minutes' worth of orders here.
        self._repeats[event.key] = _Repeat(event.key, event.without_frame(), 0, now + interval)

    def _schedule_repeat(self) -> None:
        if not self._repeats:
            self._repeat_timer.stop()
            return
        due = min(r.due for r in self._repeats.values())
        delay_ms = max(0, int((due - self._monotonic()) * 1000))
        self._repeat_timer.start(delay_ms)

    def _repeat_due(self) -> None:
        now = self._monotonic()
        interval = self.settings["alerts.repeat_interval"]
        limit = self.settings["alerts.repeat_limit"]
        due = [r for r in self._repeats.values() if r.due <= now + 0.05]
        if due:
            # The ledger is the truth: an order acknowledged anywhere (window, another tool) is
            # not repeated even if nobody told us. One query per repeat round, not per order.
            waiting = self.ledger.unacknowledged_among(r.key for r in due)
            for repeat in [r for r in due if r.key not in waiting]:
                del self._repeats[repeat.key]
            due = [r for r in due if r.key in waiting]
        for repeat in due:
            repeat.done += 1
            repeat.due = now + max(1, interval)
            if repeat.done >= limit or interval <= 0:
                del self._repeats[repeat.key]
        if due and self.settings["alerts.voice_new_order"] and self.voice_allowed():
            if len(due) > self.settings["alerts.burst_threshold"]:
                self._say(
                    wording.summary_announcement(len(due), OrderKind.NEW_ORDER, self._language),
                    "new_order",
                    None,
                )
            else:
                for repeat in due:
                    self._say(
                        wording.announcement(repeat.event, self.settings, self._language),
                        "urgent" if self.is_urgent(repeat.key) else "new_order",  # escalation
                        repeat.key,
                    )
        self._schedule_repeat()

    @property
    def repeating(self) -> list[OrderEvent]:
        return [r.event for r in self._repeats.values()]

    # -- acknowledging -------------------------------------------------------------------

    def acknowledge_all(self) -> int:
        count = self.ledger.acknowledge_all()
        self.on_acknowledged()
        return count

    def on_acknowledged(self) -> None:
        """Entries were acknowledged (window, tray, notification) or decided: stop their repeats
        and their lines, the one being said included."""
        queued = self.announcer.queued_keys()
        current = self.announcer.current_key()
        if current is not None:
            queued.add(current)
        waiting = self.ledger.unacknowledged_among(set(self._repeats) | queued | set(self._voice_held))
        for key in [k for k in self._repeats if k not in waiting]:
            del self._repeats[key]
        for key in [k for k in self._voice_held if k not in waiting]:
            _event, timer = self._voice_held.pop(key)  # acknowledged before its line: none said
            timer.stop()
            timer.deleteLater()
            self.ledger.mark_told([key])
        for key in queued - waiting:
            if not _is_own_key(key):
                self.announcer.cancel(key)
        self._schedule_repeat()
        self.refresh_badge()

    def order_ended(self, source: str, server: str, order_id: str, how: str, *, connection_id: str,
                    title: str = "", body: str = "") -> None:
        """The order (of the connection `connection_id`: another connection's order with the
        same id keeps ringing) was accepted or rejected (`how`, an `Ending`) here or elsewhere, or the
        customer cancelled it: its repeats and lines stop now (the one being said mid-word), its
        popups go. Decided here: they are closed, the owner just did it. Elsewhere: the order's
        popup is replaced by `title` / `body` (who decided), without the buttons; when it is not
        up any more that is shown anew only if it is news (rejected elsewhere, cancelled: `title`
        given). A cancellation is also said aloud, once."""
        keys = self.ledger.order_keys(source, server, order_id, connection_id=connection_id)
        for key in keys:
            self.announcer.cancel(key)
        self.on_acknowledged()
        here = how in (Ending.ACCEPTED_HERE, Ending.REJECTED_HERE)
        order = self.ledger.order(source, server, order_id, connection_id=connection_id)
        main = order.key if order is not None else None
        for key in keys:
            try:
                if here or key != main or not title:
                    self.notifier.withdraw(key)
                else:
                    self.notifier.update(title, body, key=key, decided=True,
                                         show_if_gone=how != Ending.ACCEPTED_ELSEWHERE)
            except Exception:  # noqa: BLE001 - a notification problem must not keep the voice on
                log.exception("could not withdraw the notification of order %s", order_id)
        if title and main is None and how != Ending.ACCEPTED_ELSEWHERE:
            self._notify(title, body, key=None)  # an order this PC never saw: the news alone
        if how == Ending.CANCELLED and order is not None and self.settings["alerts.voice_new_order"] \
                and self.voice_allowed():
            cancelled = replace(order, kind=OrderKind.CANCELLED, raw="")
            self._say(wording.announcement(cancelled, self.settings, self._language), "alert", None)

    def refresh_badge(self) -> int:
        count = self.ledger.unacknowledged_orders()
        if count != self._badge:
            self._badge = count
            self.badge_changed.emit(count)
        return count

    @property
    def badge(self) -> int:
        return max(0, self._badge)

    def activated(self, key: str) -> None:
        """A notification was clicked: open that order (browser URL template or the window)."""
        entry = self.ledger.find(key)  # one indexed lookup per click: nothing kept per order
        event = entry.event if entry is not None else None
        url = order_url(self.settings["alerts.order_url"], event) if event is not None else ""
        if url and QDesktopServices.openUrl(QUrl(url)):
            return
        self.show_order.emit(event)

    # -- quiet hours and mute ------------------------------------------------------------

    def voice_allowed(self) -> bool:
        now = self._now()
        if self._muted_until is not None:
            if now < self._muted_until:
                return False
            self._muted_until = None
        if self.settings["alerts.quiet_follows_hours"] and quiet_by_hours(self.settings["shop.hours"], now):
            return False
        return not in_quiet_hours(self.settings["alerts.quiet_start"], self.settings["alerts.quiet_end"], now)

    def mute_for(self, seconds: int) -> None:
        self._mute_until(self._now() + timedelta(seconds=seconds), seconds)

    def mute_until_tomorrow(self) -> None:
        self._mute_until(next_morning(self._now()), -1)

    def _mute_until(self, until: datetime, choice: int) -> None:
        self._muted_until = until
        self.announcer.clear()
        self._mute_timer.start(max(0, int((until - self._now()).total_seconds() * 1000)))
        self.mute_changed.emit(choice)

    def unmute(self) -> None:
        self._muted_until = None
        self._mute_timer.stop()
        self.mute_changed.emit(0)

    # -- connection ----------------------------------------------------------------------

    def on_status(self, status: ConnectionStatus) -> None:
        previous, self._status = self._status, status
        gap = ConnState.HISTORY_GAP
        if status.state is gap and (previous is None or previous.state is not gap):
            # Orders expired on the server before we got them: the owner must check the order
            # system by hand, so this is said once, not only shown in the tray tooltip.
            text = wording.history_gap_announcement(self._language)
            self._notify(text, status.sentence(), key=CONNECTION_KEY)
            if self.voice_allowed():
                self._say(text, "alert", CONNECTION_KEY)
        if status.healthy:
            self._down_timer.stop()
            if self._down_announced:
                self._down_announced = False
                if self.voice_allowed():
                    self._say(wording.connection_back_announcement(self._language), None, None)
            self._was_connected = True
            return
        after = self.settings["alerts.disconnect_alert_after"]
        if self._was_connected and after > 0 and not self._down_timer.isActive() and not self._down_announced:
            self._down_timer.start(after * 1000)

    def _announce_down(self) -> None:
        if self._status is not None and self._status.healthy:
            return
        self._down_announced = True
        text = wording.connection_lost_announcement(self._language)
        detail = self._status.sentence() if self._status else ""
        self._notify(text, detail, key=CONNECTION_KEY)
        if self.voice_allowed():
            self._say(text, "alert", CONNECTION_KEY)
