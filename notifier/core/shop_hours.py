"""Opening hours: when the shop is open by its own schedule, and when the schedule says to open or
close it (营业 / 打烊 by themselves).

The schedule is one line of text in the settings (`shop.hours`), so it fits the settings file and
the dialog's text field:

    10:00-22:00                                   every day
    mon-fri 10:00-14:00,17:00-22:00; sat,sun 09:00-02:00

A range whose end is not after its start crosses midnight: "sat 22:00-02:00" is Saturday 22:00
to Sunday 02:00. Days are mon … sun, single, listed with commas or as a span ("fri-mon" wraps);
a day the line does not name is closed. "00:00-00:00" is the whole day.

The keeper acts on the schedule's *edges* only: when the schedule's state changes between two
looks at the clock, the shop is opened or closed; between edges the owner's own click from the
tray stands (closing early on a quiet evening is not undone a minute later). No Qt here: the
tests drive it with their own clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.core.hhmm import parse_hhmm
from notifier.core.i18n import tr

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_RANGE = re.compile(r"^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$")


class HoursError(ValueError):
    """The opening hours cannot be read; the message is a sentence naming the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Span:
    """Open from `start` for `minutes` (minutes after the day's midnight), on `day` (0 = Monday)."""

    day: int
    start: int
    minutes: int


@dataclass(frozen=True, slots=True)
class OpeningHours:
    spans: tuple[Span, ...]

    def is_open(self, when: datetime) -> bool:
        """Whether the schedule has the shop open at `when` (its local wall-clock time)."""
        minute = when.hour * 60 + when.minute
        today = when.weekday()
        for span in self.spans:
            # Minutes since the span's day began: today's spans, and yesterday's that run past midnight.
            if span.day == today:
                offset = minute
            elif span.day == (today - 1) % 7:
                offset = minute + MINUTES_PER_DAY
            else:
                continue
            if span.start <= offset < span.start + span.minutes:
                return True
        return False

    def next_change(self, when: datetime, horizon_days: int = 8) -> datetime | None:
        """The first minute after `when` at which `is_open` differs from now; None if never."""
        now_open = self.is_open(when)
        moment = when.replace(second=0, microsecond=0)
        for _ in range(horizon_days * MINUTES_PER_DAY):
            moment += timedelta(minutes=1)
            if self.is_open(moment) != now_open:
                return moment
        return None


def parse_hours(text: str) -> OpeningHours | None:
    """The schedule written in `text`; None for an empty one (no opening hours); HoursError."""
    text = text.strip()
    if not text:
        return None
    spans: list[Span] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        days_text, _, ranges_text = part.rpartition(" ")
        days = _parse_days(days_text.strip()) if days_text.strip() else tuple(range(7))
        for range_text in (r.strip() for r in ranges_text.split(",")):
            start, minutes = _parse_range(range_text)
            spans.extend(Span(day, start, minutes) for day in days)
    if not spans:
        raise HoursError(tr("Opening hours: no times found; write them like 10:00-22:00"))
    return OpeningHours(tuple(spans))


def _parse_days(text: str) -> tuple[int, ...]:
    days: list[int] = []
    for item in (i.strip().lower() for i in text.replace(" ", ",").split(",")):
        if not item:
            continue
        first, dash, last = item.partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise HoursError(tr("Opening hours: {day!r} is not a day; use mon, tue, wed, thu, fri, sat, sun",
                                day=item))
        a = DAYS.index(first)
        b = DAYS.index(last) if dash else a
        days.extend((a + i) % 7 for i in range(((b - a) % 7) + 1))
    return tuple(dict.fromkeys(days))


def _parse_range(text: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    start = parse_hhmm(match.group(1)) if match else None
    end = parse_hhmm(match.group(2)) if match else None
    if start is None or end is None:
        raise HoursError(tr("Opening hours: {part!r} is not a time range like 10:00-22:00", part=text))
    a, b = start[0] * 60 + start[1], end[0] * 60 + end[1]
    return a, (b - a) if b > a else (b + MINUTES_PER_DAY - a)


class HoursKeeper:
    """Says when the schedule wants the shop opened or closed: `tick(now)` returns True (open it),
    False (close it) or None (nothing to do). The first tick returns the schedule's state, so a PC
    started in the middle of the day puts the shop where the schedule has it."""

    def __init__(self, hours: OpeningHours | None):
        self.hours = hours
        self._last: bool | None = None

    def tick(self, now: datetime) -> bool | None:
        if self.hours is None:
            return None
        state = self.hours.is_open(now)
        if state == self._last:
            return None
        self._last = state
        return state


def quiet_by_hours(hours_text: str, now: datetime) -> bool:
    """Whether `now` is outside the opening hours (quiet hours that follow them); False without
    opening hours or when they cannot be read (the settings check refuses those anyway)."""
    try:
        hours = parse_hours(hours_text)
    except HoursError:
        return False
    return hours is not None and not hours.is_open(now)
