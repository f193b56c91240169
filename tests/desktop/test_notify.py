"""Notifications as the session's notification server receives them: text, plain-text safety,
clicks, never blocking, and falling back when the server is gone."""

from __future__ import annotations

import statistics
import time

import pytest
from helpers import NotificationLog

from notifier.core.text import plain
from notifier.desktop.notify import Notifier


def test_plain_removes_control_characters_and_cuts():
    assert plain("a\x00b\x1b[31mc\u202ed", 100) == "a b [31mc d"
    assert plain("x" * 5_000_000, 200) == "x" * 199 + "…"
    assert plain("one\n\n\n\ntwo\r\nthree", 100, multiline=True) == "one\n\ntwo\nthree"


def test_without_a_session_bus_or_tray_nothing_breaks(qtbot, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    notifier = Notifier()
    assert notifier.backend_name() == "none"
    notifier.show("新订单 #1", "金额：1.00 元")  # logged once, never raised


@pytest.fixture
def notify_log():
    log = NotificationLog()
    log.mark()
    return log


@pytest.fixture
def notifier(qtbot):
    notifier = Notifier()
    yield notifier
    notifier.close()


@pytest.mark.needs_session
def test_order_notification_reaches_the_notification_server(notifier, notify_log):
    assert notifier.backend_name().startswith("freedesktop")
    notifier.show("新订单 #1234", "金额：56.50 元\n顾客：张三", key="k1")
    entry = notify_log.wait_for(lambda e: e["summary"] == "新订单 #1234")
    assert entry["body"] == "金额：56.50 元\n顾客：张三"
    assert entry["app_name"] == "Order Notifier"
    assert entry["actions"][:1] == ["default"]  # clickable


@pytest.mark.needs_session
def test_the_open_action_speaks_the_owners_language(qapp, notifier, notify_log):
    from notifier.desktop.i18n import install_translators

    try:
        install_translators(qapp, "zh_CN")
        notifier.show("新订单 #5", "", key="k5")
        assert notify_log.wait_for(lambda e: e["summary"] == "新订单 #5")["actions"] == ["default", "打开"]
    finally:
        install_translators(qapp, "en")
    notifier.show("New order #6", "", key="k6")
    assert notify_log.wait_for(lambda e: e["summary"] == "New order #6")["actions"] == ["default", "Open"]


@pytest.mark.needs_session
def test_markup_is_shown_literally_and_5_mb_is_cut(notifier, notify_log):
    notifier.show("<b>新订单</b> #1\x07", "<i>x</i> & <a href='http://evil'>y</a>" + "z" * 5_000_000)
    entry = notify_log.wait_for(lambda e: "新订单" in e["summary"])
    assert entry["summary"] == "<b>新订单</b> #1"  # the summary is never markup
    # The recorder announces body-markup, so the body is escaped to show as typed.
    assert entry["body"].startswith("&lt;i&gt;x&lt;/i&gt; &amp; &lt;a href='http://evil'&gt;y")
    assert len(entry["body"]) < 1100


@pytest.mark.needs_session
def test_show_never_blocks_the_main_thread(notifier, notify_log):
    notifier.show("warm-up", "")
    notify_log.wait_for(lambda e: e["summary"] == "warm-up")
    costs = []
    for i in range(200):
        start = time.perf_counter()
        notifier.show(f"新订单 #{i}", "金额：56.50 元")
        costs.append(time.perf_counter() - start)
    notify_log.wait_for(lambda e: e["summary"] == "新订单 #199", timeout=10)
    assert len([e for e in notify_log.entries() if e["summary"].startswith("新订单 #")]) == 200
    assert statistics.median(costs) < 0.001, f"median {statistics.median(costs) * 1e3:.3f} ms"


@pytest.mark.needs_session
def test_a_bus_socket_that_cannot_take_a_message_at_once_loses_and_mangles_nothing(notifier, notify_log):
    import socket

    notifier.show("warm-up", "")
    notify_log.wait_for(lambda e: e["summary"] == "warm-up")
    backend = notifier._backends[0]
    # The smallest send buffer the kernel allows, ~3 KB messages, a short pause after every
    # other one: most are written by `show` itself, some do not fit and go to the backend's
    # thread, a few are cut short half-way (checked once by counting: 290 / 10 / 2). All must
    # arrive whole, none garbled by another message written into the middle of it.
    backend._conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)
    bodies = {f"大单 #{i}": f"{i}:" + "牛肉面加辣" * 190 for i in range(300)}
    for i, (title, body) in enumerate(bodies.items()):
        notifier.show(title, body, key=title)
        if i % 2:
            time.sleep(0.0005)
    notify_log.wait_for(lambda e: e["summary"] == "大单 #299", timeout=20)
    got = {e["summary"]: e["body"] for e in notify_log.entries() if e["summary"].startswith("大单 #")}
    assert got == bodies
    assert notifier.backend_name().startswith("freedesktop")


@pytest.mark.needs_session
def test_clicking_a_notification_reports_its_order(qtbot, notifier, notify_log):
    notifier.show("新订单 #77", "", key="order-77")
    entry = notify_log.wait_for(lambda e: e["summary"] == "新订单 #77")
    with qtbot.waitSignal(notifier.activated, timeout=5_000) as clicked:
        notify_log.invoke_action(entry["id"], "default")
    assert clicked.args == ["order-77"]


class RecordingTrayIcon:
    """Stands in for a visible QSystemTrayIcon (its balloon cannot be observed under Xvfb)."""

    def __init__(self):
        self.messages: list[tuple[str, str]] = []

    def isVisible(self) -> bool:  # noqa: N802 - Qt's name
        return True

    def showMessage(self, title: str, body: str) -> None:  # noqa: N802
        self.messages.append((title, body))


def test_a_dead_notification_server_falls_back_to_the_tray_fake_tray(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    tray = RecordingTrayIcon()
    notifier = Notifier(tray_icon=tray)
    assert notifier.backend_name().startswith("freedesktop")
    notifier.show("新订单 #5", "金额：5.00 元")
    qtbot.waitUntil(lambda: tray.messages == [("新订单 #5", "金额：5.00 元")], timeout=5_000)
    assert notifier.backend_name() == "tray icon message"
    notifier.show("新订单 #6", "")
    assert tray.messages[-1] == ("新订单 #6", "")


@pytest.mark.needs_session
def test_the_icon_is_sent_at_a_size_daemons_show_beside_the_text(notifier, notify_log):
    """dunst draws the icon at the size it is sent: 128 px squeezed the title onto two lines."""
    from PySide6.QtGui import QImage

    notifier.show("New order #11305848", "Amount: ¥56.50")
    entry = notify_log.wait_for(lambda e: e["summary"] == "New order #11305848")
    assert "image-path" in entry["hints_keys"]
    image = QImage(entry["app_icon"])
    assert not image.isNull() and 32 <= image.width() <= 64 and image.width() == image.height()


def test_markup_is_escaped_as_the_html_module_escapes_it():
    import html

    from hypothesis import given
    from hypothesis import strategies as st

    from notifier.desktop.notify import markup_escaped

    @given(st.text())
    def same(text):
        assert markup_escaped(text) == html.escape(text, quote=False)

    same()
    assert markup_escaped("<b>鱼 & 饭</b>") == "&lt;b&gt;鱼 &amp; 饭&lt;/b&gt;"
