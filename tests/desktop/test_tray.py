"""The tray: the icon shows the connection state and the unacknowledged count, the tooltip says
the state in words, and every menu entry does what it says."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.desktop.tray import (
    COLOURS,
    MUTE_1_H,
    MUTE_30_MIN,
    MUTE_OFF,
    MUTE_TOMORROW,
    Look,
    Tray,
    badge_text,
    badge_text_for,
    look_for,
    paint_icon,
)


@pytest.fixture
def tray(qapp):
    tray = Tray()
    yield tray
    tray.hide()
    tray.menu.deleteLater()
    tray.deleteLater()


def _close(a: QColor, b: QColor, tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


@pytest.mark.parametrize(
    ("status", "look"),
    [
        (ConnectionStatus(ConnState.CONNECTED, "shop.example"), Look.CONNECTED),
        (ConnectionStatus(ConnState.HISTORY_GAP, "shop.example"), Look.CONNECTED),
        (ConnectionStatus(ConnState.CONNECTING, "shop.example"), Look.CONNECTING),
        (ConnectionStatus(ConnState.WAITING, "s", retry_in=10, reason=ConnState.UNREACHABLE), Look.CONNECTING),
        (ConnectionStatus(ConnState.WAITING, "s", retry_in=30, reason=ConnState.UNAUTHORIZED), Look.FAILED),
        (ConnectionStatus(ConnState.UNAUTHORIZED, "s"), Look.FAILED),
        (ConnectionStatus(ConnState.TLS_FAILURE, "s"), Look.FAILED),
        (ConnectionStatus(ConnState.MISCONFIGURED, "s", "no url"), Look.FAILED),
        (ConnectionStatus(ConnState.STOPPED, "s"), Look.STOPPED),
    ],
)
def test_each_connection_state_has_its_look(status, look):
    assert look_for(status) is look


def test_icon_is_painted_in_the_state_colour_with_a_badge(qapp):
    for look in Look:
        image = paint_icon(64, look).toImage()
        # Left edge of the round tile, clear of the bell and the badge.
        assert _close(image.pixelColor(6, 32), QColor(COLOURS[look])), look
    plain = paint_icon(64, Look.CONNECTED, 0).toImage()
    badged = paint_icon(64, Look.CONNECTED, 7).toImage()
    badge_red = QColor("#c4161c")
    assert not _close(plain.pixelColor(56, 8), badge_red)
    assert _close(badged.pixelColor(56, 8), badge_red, tolerance=60)


@pytest.mark.parametrize("size", [16, 22, 24])
def test_the_badge_leaves_the_small_bell_visible(qapp, size):
    """At tray sizes the count sits beside the bell, not on it: the red badge covers little of
    the bell's outline, and the count is at most two glyphs."""

    def box(points):
        xs, ys = [x for x, _ in points], [y for _, y in points]
        return min(xs), min(ys), max(xs), max(ys)

    for count in (3, 42, 500):
        image = paint_icon(size, Look.CONNECTED, count).toImage()
        pixels = [(x, y) for x in range(size) for y in range(size)]
        red = box([p for p in pixels if _close(image.pixelColor(*p), QColor("#c4161c"), tolerance=40)])
        inside_red = lambda p, r=red: r[0] <= p[0] <= r[2] and r[1] <= p[1] <= r[3]  # noqa: E731
        bell = box([p for p in pixels if not inside_red(p)
                    and _close(image.pixelColor(*p), QColor("white"), tolerance=40)])
        overlap_w = max(0, min(red[2], bell[2]) - max(red[0], bell[0]) + 1)
        overlap_h = max(0, min(red[3], bell[3]) - max(red[1], bell[1]) + 1)
        bell_area = (bell[2] - bell[0] + 1) * (bell[3] - bell[1] + 1)
        assert overlap_w * overlap_h <= 0.25 * bell_area, (size, count, red, bell)  # was a third
    assert badge_text_for(500, 16) == "9+" and badge_text_for(500, 64) == "99+"


@pytest.mark.parametrize("size", [16, 22, 64])
def test_every_count_on_the_badge_looks_different(qapp, size):
    """The badge's digits are drawn strokes (desktop/badge_digits.py): each count from 1 to 10
    must give its own picture, and a 2 must not look like a 3."""
    pictures = {count: paint_icon(size, Look.CONNECTED, count).toImage() for count in range(1, 11)}
    for a in pictures:
        for b in pictures:
            if a < b:
                assert pictures[a] != pictures[b], (size, a, b)


BADGE_WITHOUT_FONTS = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from notifier.desktop.tray import Look, make_icon
for count in (0, 1, 7, 12, 99, 150):
    make_icon(Look.CONNECTED, count)
maps = open("/proc/self/maps").read()
sys.exit(1 if any(m in maps for m in ("cache/fontconfig", ".ttf", ".otf", ".ttc")) else 0)
"""


def test_the_badge_is_drawn_without_starting_the_font_system():
    """An idle tray app must not carry the font system (4-5 MB) because its badge said "7"."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", BADGE_WITHOUT_FONTS], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, "drawing the badge loaded fonts: " + result.stderr[-1000:]


def test_badge_text_caps_at_99():
    assert [badge_text(n) for n in (0, 1, 99, 100, 5000)] == ["", "1", "99", "99+", "99+"]


def test_tooltip_and_menu_say_the_state_in_words(tray):
    status = ConnectionStatus(ConnState.WAITING, "shop.example", retry_in=10, reason=ConnState.UNREACHABLE)
    tray.set_status(status)
    assert tray.icon.toolTip() == status.sentence()
    assert "10" in tray.icon.toolTip()
    assert tray.action_status.text() == status.sentence()
    assert tray.look is Look.CONNECTING


def test_voice_and_printer_trouble_stay_in_the_tooltip_as_the_connection_changes(tray):
    tray.set_voice_problem("speech-dispatcher cannot open audio")
    tray.set_printer_problem("Printer offline — 3 tickets waiting")
    for state in (ConnState.CONNECTED, ConnState.CONNECTING):
        status = ConnectionStatus(state, "shop.example")
        tray.set_status(status)
        assert tray.icon.toolTip().splitlines() == [
            status.sentence(), "Voice unavailable: speech-dispatcher cannot open audio",
            "Printer offline — 3 tickets waiting"]
    tray.set_voice_problem("")
    tray.set_printer_problem("")
    assert tray.icon.toolTip() == status.sentence()


def test_icon_is_redrawn_only_when_the_picture_changes(tray):
    tray.set_status(ConnectionStatus(ConnState.CONNECTED, "shop.example"))
    first = tray.icon.icon().cacheKey()
    tray.set_count(3)
    second = tray.icon.icon().cacheKey()
    assert second != first
    tray.set_status(ConnectionStatus(ConnState.CONNECTED, "shop.example"))
    tray.set_count(3)
    assert tray.icon.icon().cacheKey() == second
    assert tray.count == 3


def test_menu_has_every_entry_in_order(tray):
    def texts():  # after the status line
        return [a.text() for a in tray.menu.actions() if not a.isSeparator() and a.isVisible()][1:]

    assert texts() == [
        "Orders", "Stop ringing here (all orders)", "Mute voice", "Reconnect now", "Settings…",
        "Open log folder", "About Order Notifier", "Quit",
    ]
    tray.set_decisions_available(True)  # the shop's back end takes accept / reject
    assert texts()[1:2] == ["Stop ringing here (all orders)"], "no order waits: nothing to accept"
    tray.set_oldest_order(OrderEvent(OrderKind.NEW_ORDER, "42", "notifier", "shop", order_number="B-1205-3456"))
    # The decisions first, naming the order they act on; stopping the ringing is this PC's only.
    assert texts()[1:4] == ["Accept order B-1205-3456", "Reject order B-1205-3456…",
                            "Stop ringing here (all orders)"]
    assert [a.text() for a in tray.mute_menu.actions()] == [
        "For 30 minutes", "For 1 hour", "Until tomorrow", "Off (voice on)",
    ]


def test_menu_entries_emit_what_the_app_acts_on(tray, qtbot):
    for action, signal in (
        (tray.action_orders, tray.open_orders),
        (tray.action_ack, tray.acknowledge_all),
        (tray.action_reconnect, tray.reconnect),
        (tray.action_settings, tray.open_settings),
        (tray.action_logs, tray.open_log_folder),
        (tray.action_about, tray.about),
        (tray.action_quit, tray.quit),
    ):
        with qtbot.waitSignal(signal, timeout=1000):
            action.trigger()
    chosen: list[int] = []
    tray.mute.connect(chosen.append)
    for seconds in (MUTE_30_MIN, MUTE_1_H, MUTE_TOMORROW, MUTE_OFF):
        tray.mute_actions[seconds].trigger()
    assert chosen == [MUTE_30_MIN, MUTE_1_H, MUTE_TOMORROW, MUTE_OFF]
    tray.set_muted(MUTE_1_H)
    assert tray.mute_actions[MUTE_1_H].isChecked()


def test_left_click_opens_the_orders_window(tray, qtbot):
    from PySide6.QtWidgets import QSystemTrayIcon

    with qtbot.waitSignal(tray.open_orders, timeout=1000):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
