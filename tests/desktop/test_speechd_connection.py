"""Our connection to speech-dispatcher when speech-dispatcher stalls, and the voices it lists.

A real speech-dispatcher of the test's own (tests/speech_session.py: espeak-ng into the session's
null sink), frozen with SIGSTOP for a few seconds as a busy PC freezes it: a reply that comes too
late must never be read as the next command's, and the order's words must still be said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest
from helpers import AudioRecorder, sound_span, wait_voice_ready
from speech_session import private_speechd

from notifier.core.settings import Settings
from notifier.desktop import speechd_client
from notifier.desktop.speech_helper import Helper
from notifier.desktop.speechd_client import SpeechdClient, SpeechdLost
from notifier.desktop.voice import Announcer

pytestmark = pytest.mark.needs_session

LINE = "您有新的订单，订单号 2468，金额 31.5 元"
NEXT_LINE = "您有新的订单，订单号 1357，金额 12 元"


@pytest.fixture
def speechd(tmp_path, monkeypatch):
    """A private speech-dispatcher the test may freeze; the environment points at it."""
    with private_speechd(tmp_path / "speechd") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield int(env["NOTIFIER_TEST_SPEECHD_PID"])


@contextlib.contextmanager
def frozen(pid: int, seconds: float):
    """speech-dispatcher stopped now and for `seconds` (a timer thread lets it go on)."""
    os.kill(pid, signal.SIGSTOP)
    thaw = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    thaw.start()
    try:
        yield thaw
    finally:
        thaw.join()
        os.kill(pid, signal.SIGCONT)


def test_a_reply_that_comes_too_late_is_never_taken_for_the_next_commands(speechd, monkeypatch):
    """Before: the late "OK VOLUME SET" was read as the next command's reply, and so on: every
    later line failed ("SPEAK: OK RATE SET") until the helper was replaced."""
    monkeypatch.setattr(speechd_client, "REPLY_TIMEOUT_S", 0.5)
    events: list[tuple[str, int]] = []
    client = SpeechdClient(lambda kind, message: events.append((kind, message)))
    try:
        client.speak("1")  # warm: later replies get REPLY_TIMEOUT_S
        with frozen(speechd, 1.5):
            with pytest.raises(SpeechdLost, match="did not answer in 0.5 s"):
                client.command("SET self VOLUME 0")
        assert not client.usable
        with pytest.raises(SpeechdLost):  # never the late reply of another command
            client.command("SET self RATE 0")
    finally:
        client.close()
    fresh = SpeechdClient(lambda kind, message: events.append((kind, message)))
    try:
        message = fresh.speak("2")
        deadline = time.monotonic() + 15
        while ("end", message) not in events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ("end", message) in events, events
    finally:
        fresh.close()


def test_a_speech_dispatcher_frozen_for_4_s_costs_a_moment_not_the_words(
        qtbot, speechd, tmp_path):
    """Before: a line whose command got no answer in 3 s failed without a word, and so did every
    line after it (the connection was out of step). Now the helper hangs up, says the line on a
    new connection once speech-dispatcher answers again, and the next order is said too."""
    announcer = Announcer(Settings({"general.language": "zh_CN"}))
    try:
        said: list[str] = []
        finished: list[str] = []
        announcer.started.connect(said.append)
        announcer.finished.connect(finished.append)
        wait_voice_ready(qtbot, announcer)
        with open(f"/proc/{announcer.helper_pid()}/maps") as maps:
            assert "libspeechd" not in maps.read(), "the helper listed its voices through libspeechd"
        announcer.announce("1")  # the helper's speaking connection is open and warm
        qtbot.waitUntil(lambda: "1" in finished, timeout=20_000)
        with AudioRecorder(tmp_path, "stalled.wav") as recorder:
            with frozen(speechd, 4.0) as thaw:
                announcer.announce(LINE)  # sent to the helper while the event loop turns
                qtbot.waitUntil(lambda: not thaw.is_alive(), timeout=10_000)
            qtbot.waitUntil(lambda: LINE in finished, timeout=30_000)
            announcer.announce(NEXT_LINE)
            qtbot.waitUntil(lambda: NEXT_LINE in finished, timeout=30_000)
        assert said.count(LINE) == 1, f"the stalled order's words were not said: {said}"
        assert said.count(NEXT_LINE) == 1, f"the next order's words were not said: {said}"
        span = sound_span(recorder.path)
        assert span is not None and span[1] - span[0] > 3.0, "the words were not heard"
    finally:
        announcer.shutdown()


def test_the_voices_are_listed_by_us_not_by_libspeechd(qtbot, speechd):
    """Qt's speechd engine lists them through libspeechd, whose parsing of espeak-ng's 13,000
    voices took 1.3 s of CPU at each helper start (12 s and more on a busy PC: a new helper
    missed the app's wait). The helper lists them itself and picks the same voices."""
    helper = Helper(_Lines())
    helper.open("speechd")
    assert helper.name == "speechd" and not helper.error
    assert helper.tts is None, "Qt's speechd engine was opened"
    assert helper.pick("zh_CN", "").name() == "Chinese (Mandarin, latin as Pinyin)"
    assert helper.pick("en", "").name() == "English (America)"
    # A voice of another language chosen on purpose is found; Cantonese is not Mandarin.
    assert helper.pick("zh_CN", "German").name() == "German"
    assert not [v for v in helper._voices_for("zh_CN") if "Cantonese" in v.name()]


class _Lines:
    def __init__(self) -> None:
        self.text = ""

    def write(self, data: str) -> None:
        self.text += data

    def flush(self) -> None:
        pass
