"""Opening hours (营业时间): reading the line the owner writes, whether the shop is open at a given
minute (past midnight too), and the keeper that opens and closes the shop on the schedule's edges
only, driven by the test's own clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifier.core.settings import Settings, SettingsError
from notifier.core.shop_hours import HoursError, HoursKeeper, parse_hours, quiet_by_hours

# 2026-12-07 is a Monday.
MON = datetime(2026, 12, 7)


def at(day: int, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return MON + timedelta(days=day, hours=hours, minutes=minutes)


def test_one_range_every_day():
    hours = parse_hours("10:00-22:00")
    assert [hours.is_open(at(d, "09:59")) for d in range(7)] == [False] * 7
    assert [hours.is_open(at(d, "10:00")) for d in range(7)] == [True] * 7
    assert hours.is_open(at(3, "21:59")) and not hours.is_open(at(3, "22:00"))


def test_a_range_past_midnight_belongs_to_the_day_it_starts():
    hours = parse_hours("mon-fri 10:00-14:00,17:00-22:00; sat,sun 18:00-02:00")
    assert hours.is_open(at(0, "12:00")) and not hours.is_open(at(0, "15:00"))
    assert hours.is_open(at(5, "23:30"))          # Saturday evening
    assert hours.is_open(at(6, "01:59"))          # Saturday's range, Sunday night
    assert not hours.is_open(at(6, "02:00"))
    assert hours.is_open(at(0, "01:00"))          # Sunday's range reaches Monday 02:00
    assert not hours.is_open(at(5, "01:00"))      # Friday's ranges end at 22:00
    assert not hours.is_open(at(5, "12:00"))      # Saturday noon: not a Saturday hour


def test_day_spans_wrap_and_the_whole_day():
    hours = parse_hours("fri-mon 00:00-00:00")
    assert [hours.is_open(at(d, "12:00")) for d in range(7)] == [True, False, False, False, True, True, True]


@pytest.mark.parametrize("text, part", [
    ("10-22", "10-22"), ("mon 25:00-26:00", "25:00-26:00"), ("mond 10:00-12:00", "mond"),
    ("mon-xyz 10:00-12:00", "mon-xyz"), (";", "no times"),
])
def test_a_bad_line_is_a_sentence_naming_the_part(text, part):
    with pytest.raises(HoursError) as caught:
        parse_hours(text)
    assert part in str(caught.value) and "Traceback" not in str(caught.value)


def test_the_settings_refuse_hours_they_cannot_read_and_keep_good_ones():
    with pytest.raises(SettingsError) as caught:
        Settings({"shop.hours": "mon 10:00"})
    assert caught.value.key == "shop.hours"
    assert Settings({"shop.hours": "10:00-02:00"})["shop.hours"] == "10:00-02:00"
    assert parse_hours("") is None


def test_the_keeper_acts_on_edges_and_leaves_the_owner_alone_between_them():
    keeper = HoursKeeper(parse_hours("10:00-22:00"))
    assert keeper.tick(at(0, "12:00")) is True    # started mid-day: the schedule's state once
    assert keeper.tick(at(0, "12:01")) is None    # the owner may close early now: not undone
    assert keeper.tick(at(0, "21:59")) is None
    assert keeper.tick(at(0, "22:00")) is False   # closing time
    assert keeper.tick(at(0, "23:00")) is None
    assert keeper.tick(at(1, "10:00")) is True    # next morning
    assert HoursKeeper(None).tick(at(0, "12:00")) is None


def test_next_change_and_quiet_hours_that_follow():
    hours = parse_hours("sat 22:00-02:00")
    assert hours.next_change(at(5, "21:00")) == at(5, "22:00")
    assert hours.next_change(at(5, "23:00")) == at(6, "02:00")
    assert quiet_by_hours("10:00-22:00", at(0, "23:00")) is True
    assert quiet_by_hours("10:00-22:00", at(0, "11:00")) is False
    assert quiet_by_hours("", at(0, "23:00")) is False
