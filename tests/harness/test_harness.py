"""Proof that the test session is real: every part the product relies on answers like it would
on a shop's desktop. If one of these fails, the tests that build on it mean nothing."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from helpers import (
    SERVICE,
    AudioRecorder,
    NotificationLog,
    duration,
    free_port,
    max_amplitude,
    rms,
    wait_until,
    worker_port_range,
)

session = pytest.mark.needs_session

SPEECH_RMS = 0.01  # espeak-ng speech measured ~0.19; silence is exactly 0
SILENCE_RMS = 0.0005


# --- the shared helpers and the root conftest (no session needed) ---------------------------

def test_every_test_gets_its_own_notifier_home(notifier_home, tmp_path):
    assert os.environ["NOTIFIER_HOME"] == str(notifier_home)
    assert notifier_home.is_dir() and notifier_home.parent == tmp_path
    assert not any(name.lower().endswith("_proxy") for name in os.environ)


def test_test_runs_side_by_side_take_their_ports_from_different_ranges():
    """Two working copies running their tests at once: with one range per worker name, one run's
    gw1 bound the port the other's gw1 had just killed its server on, and the other's orders went
    to the wrong server (401 bad_signature in the server-kill chaos test)."""
    runs = [f"run-{n}" for n in range(40)]
    ranges = {run: [worker_port_range(f"gw{w}", 4, run) for w in range(4)] for run in runs}
    for run, own in ranges.items():  # a run's workers never share, and stay below the kernel's
        assert len({r.start for r in own}) == 4 and all(20_000 <= r.start and r.stop <= 32_000 for r in own), run
    starts = {tuple(r.start for r in own) for own in ranges.values()}
    assert len(starts) == 3, "with 4 workers each, three runs side by side get ranges of their own"
    assert worker_port_range("gw12", 13, "x") is None  # more workers than ranges: the kernel picks


def test_wait_until_returns_the_truthy_value():
    start = time.monotonic()
    assert wait_until(lambda: time.monotonic() - start > 0.05 and "done", timeout=2) == "done"


def test_wait_until_fails_with_the_message_after_the_deadline():
    start = time.monotonic()
    with pytest.raises(AssertionError, match="the order arrived within 0.2 s"):
        wait_until(lambda: None, timeout=0.2, message="the order arrived")
    assert 0.2 <= time.monotonic() - start < 1.0


def test_free_port_can_be_bound():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- notifications ------------------------------------------------------------------------

@session
def test_recorder_logs_a_notification_sent_by_gdbus():
    log = NotificationLog()
    log.mark()
    out = subprocess.run(
        ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
         "--object-path", "/org/freedesktop/Notifications",
         "--method", "org.freedesktop.Notifications.Notify",
         "Order Notifier", "0", "", "新订单 #1234", "金额 56.5 元",
         "['ack', 'Acknowledge']", "{'urgency': <byte 2>}", "5000"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    entry = log.wait_for(lambda e: e["summary"] == "新订单 #1234")
    assert entry["body"] == "金额 56.5 元"
    assert entry["app_name"] == "Order Notifier"
    assert entry["actions"] == ["ack", "Acknowledge"]
    assert entry["hints_keys"] == ["urgency"]
    assert entry["expire_timeout"] == 5000
    assert f"uint32 {entry['id']}" in out  # the id the sender got is the one logged
    assert entry["t_mono_ns"] <= time.monotonic_ns()


@session
def test_recorder_answers_capabilities_and_a_replacement_keeps_its_id():
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    server = DBusAddress("/org/freedesktop/Notifications", "org.freedesktop.Notifications",
                         "org.freedesktop.Notifications")
    log = NotificationLog()
    log.mark()
    with open_dbus_connection(bus="SESSION") as conn:
        caps = conn.send_and_get_reply(new_method_call(server, "GetCapabilities"), timeout=5)
        assert {"actions", "body"} <= set(caps.body[0])
        args = ("t", 0, "", "first", "b", [], {}, -1)
        first = conn.send_and_get_reply(new_method_call(server, "Notify", "susssasa{sv}i", args))
        args = ("t", first.body[0], "", "second", "b", [], {}, -1)
        second = conn.send_and_get_reply(new_method_call(server, "Notify", "susssasa{sv}i", args))
    assert second.body[0] == first.body[0]
    assert [e["summary"] for e in wait_until(lambda: len(log.entries()) == 2 and log.entries())] \
        == ["first", "second"]


@session
def test_invoke_action_clicks_the_notification_for_its_sender():
    from jeepney import DBusAddress, HeaderFields, MatchRule, new_method_call
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    server = DBusAddress("/org/freedesktop/Notifications", "org.freedesktop.Notifications",
                         "org.freedesktop.Notifications")
    with open_dbus_connection(bus="SESSION") as conn:
        rule = MatchRule(type="signal", interface="org.freedesktop.Notifications",
                         path="/org/freedesktop/Notifications")
        conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
        args = ("t", 0, "", "order", "b", ["ack", "Acknowledge"], {}, 0)
        notification_id = conn.send_and_get_reply(
            new_method_call(server, "Notify", "susssasa{sv}i", args), timeout=5).body[0]
        with conn.filter(rule, bufsize=10) as signals:
            NotificationLog().invoke_action(notification_id, "ack")
            invoked = conn.recv_until_filtered(signals, timeout=5)
            closed = conn.recv_until_filtered(signals, timeout=5)
    assert invoked.header.fields[HeaderFields.member] == "ActionInvoked"
    assert invoked.body == (notification_id, "ack")
    assert closed.header.fields[HeaderFields.member] == "NotificationClosed"
    assert closed.body == (notification_id, 2)


# --- tray ---------------------------------------------------------------------------------

@session
def test_tray_host_embeds_an_icon(qapp, qtbot):
    from PySide6.QtGui import QColor, QIcon, QPixmap
    from PySide6.QtWidgets import QSystemTrayIcon

    assert qapp.platformName() == "xcb"
    assert QSystemTrayIcon.isSystemTrayAvailable()
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor("orange"))
    icon = QSystemTrayIcon(QIcon(pixmap))
    icon.show()
    try:
        qtbot.waitUntil(lambda: icon.geometry().width() > 0, timeout=5000)
    finally:
        icon.hide()


# --- keyring ------------------------------------------------------------------------------

@session
def test_keyring_round_trips_a_secret_through_the_secret_service(fresh_keyring):
    import keyring

    assert "SecretService" in type(keyring.get_keyring()).__module__
    keyring.set_password(SERVICE, "notifier_token", "tok-测试-1")
    assert keyring.get_password(SERVICE, "notifier_token") == "tok-测试-1"
    # An independent client (libsecret's secret-tool) sees the same item.
    looked_up = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE, "username", "notifier_token"],
        capture_output=True, text=True, timeout=10,
    )
    assert looked_up.stdout == "tok-测试-1"
    assert fresh_keyring.items() == {"notifier_token": "tok-测试-1"}
    keyring.delete_password(SERVICE, "notifier_token")
    assert keyring.get_password(SERVICE, "notifier_token") is None


# --- audio and speech ---------------------------------------------------------------------

@session
def test_speech_dispatcher_speaks_into_the_null_sink(tmp_path):
    with AudioRecorder(tmp_path, "speech.wav") as rec:
        subprocess.run(["spd-say", "--wait", "Order 5"], check=True, timeout=30)
    assert rms(rec.path) > SPEECH_RMS
    assert max_amplitude(rec.path) > 0.1


@session
def test_nothing_playing_records_silence(tmp_path):
    with AudioRecorder(tmp_path, "silence.wav") as rec:
        wait_until(lambda: rec.seconds_recorded() >= 0.5, timeout=5, message="0.5 s recorded")
    assert duration(rec.path) >= 0.5
    assert rms(rec.path) < SILENCE_RMS


@session
def test_qt_text_to_speech_with_speechd_is_heard(qapp, qtbot, tmp_path):
    from PySide6.QtTextToSpeech import QTextToSpeech

    speech = QTextToSpeech("speechd")
    qtbot.waitUntil(lambda: speech.state() != QTextToSpeech.State.Synthesizing and
                    speech.state() in (QTextToSpeech.State.Ready, QTextToSpeech.State.Error),
                    timeout=10000)
    assert speech.state() == QTextToSpeech.State.Ready, speech.errorString()
    with AudioRecorder(tmp_path, "qt-speech.wav") as rec:
        speech.say("Order 56")
        qtbot.waitUntil(lambda: speech.state() == QTextToSpeech.State.Speaking, timeout=10000)
        qtbot.waitUntil(lambda: speech.state() == QTextToSpeech.State.Ready, timeout=20000)
    assert rms(rec.path) > SPEECH_RMS


@session
def test_a_malformed_call_gets_an_error_and_the_recorder_keeps_recording():
    bad = subprocess.run(
        ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
         "--object-path", "/org/freedesktop/Notifications",
         "--method", "org.freedesktop.Notifications.Notify", "only-one-argument"],
        capture_output=True, text=True, timeout=10,
    )
    assert bad.returncode != 0 and "InvalidArgs" in bad.stderr
    log = NotificationLog()
    log.mark()
    subprocess.run(
        ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
         "--object-path", "/org/freedesktop/Notifications",
         "--method", "org.freedesktop.Notifications.Notify",
         "t", "0", "", "still here", "", "[]", "{}", "1000"],
        capture_output=True, text=True, timeout=10, check=True,
    )
    assert log.wait_for()["summary"] == "still here"
