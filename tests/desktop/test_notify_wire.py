"""The Notify call's wire bytes written by notifier.desktop.notify_wire are exactly jeepney's,
for texts of every length and alignment, with and without actions, icon and hints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jeepney import DBusAddress, new_method_call

from notifier.desktop.notify_wire import NOTIFY_SIGNATURE, NotifyWire

BUS, PATH = "org.freedesktop.Notifications", "/org/freedesktop/Notifications"
texts = st.text(max_size=300)


def jeepney_bytes(serial: int, args: tuple) -> bytes:
    return new_method_call(DBusAddress(PATH, BUS, BUS), "Notify", NOTIFY_SIGNATURE, args).serialise(serial=serial)


@settings(max_examples=300, deadline=None, database=None)
@given(serial=st.integers(1, 2**32 - 1), app=texts, replaces=st.integers(0, 2**32 - 1), icon=texts,
       summary=texts, body=texts, actions=st.lists(texts, max_size=6),
       hints=st.dictionaries(st.text(min_size=1, max_size=20),
                             st.one_of(st.tuples(st.just("s"), texts),
                                       st.tuples(st.just("y"), st.integers(0, 255)),
                                       st.tuples(st.just("i"), st.integers(-2**31, 2**31 - 1)),
                                       st.tuples(st.just("u"), st.integers(0, 2**32 - 1))),
                             max_size=4),
       timeout=st.integers(-2**31, 2**31 - 1))
def test_the_bytes_are_jeepneys(serial, app, replaces, icon, summary, body, actions, hints, timeout):
    args = (app, replaces, icon, summary, body, actions, hints, timeout)
    assert NotifyWire(BUS, PATH, BUS).message(serial, *args) == jeepney_bytes(serial, args)


def test_an_order_popup_as_the_app_sends_it():
    hints = {"urgency": ("y", 1), "category": ("s", "im.received"), "image-path": ("s", "/opt/icon-48.png")}
    args = ("Order Notifier", 0, "/opt/icon-48.png", "新订单 #1798000000123", "金额 56.50 元 · 张三",
            ["default", "打开", "accept", "接单", "reject", "拒单…"], hints, -1)
    assert NotifyWire(BUS, PATH, BUS).message(7, *args) == jeepney_bytes(7, args)


def test_a_hint_type_it_does_not_write_is_refused():
    with pytest.raises(ValueError, match="no hint values of type 'x'"):
        NotifyWire(BUS, PATH, BUS).message(1, "a", 0, "", "s", "b", [], {"n": ("x", 1)}, -1)
