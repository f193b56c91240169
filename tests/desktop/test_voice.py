"""The announcer: lines queue, none is cut off, acknowledged orders are dropped, the chime plays
even without speech, and real speech (speech-dispatcher + espeak-ng) reaches the speakers.

Queue tests use Qt's silent mock engine; the audio tests record the session's null sink.
"""

from __future__ import annotations

import pytest
from helpers import AudioRecorder, rms, wait_voice_ready

from notifier.core.settings import Settings
from notifier.desktop.voice import Announcer, choose_engine

SPEECH_RMS = 0.02  # espeak-ng speech measures ~0.15-0.2; silence is 0.0


@pytest.fixture
def make_announcer(qtbot):
    made: list[Announcer] = []

    def make(**values) -> Announcer:
        announcer = Announcer(Settings({"general.language": "zh_CN", **values}))
        made.append(announcer)
        return announcer

    yield make
    for announcer in made:
        announcer.shutdown()


class Journal:
    """started/finished of an announcer, in order."""

    def __init__(self, announcer: Announcer):
        self.events: list[tuple[str, str]] = []
        announcer.started.connect(lambda text: self.events.append(("started", text)))
        announcer.finished.connect(lambda text: self.events.append(("finished", text)))

    def finished(self) -> list[str]:
        return [text for what, text in self.events if what == "finished"]


def test_engine_choice_is_explicit_and_never_mock_by_default():
    assert choose_engine("", ["mock", "speechd"]) == "speechd"
    assert choose_engine("", ["mock"]) is None
    assert choose_engine("mock", ["mock", "speechd"]) == "speechd"
    assert choose_engine("", ["mock", "speechd"], env="mock") == "mock"
    assert choose_engine("", ["speechd"], env="flite") is None


def test_no_engine_is_created_before_the_event_loop_runs(make_announcer, monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")
    announcer = make_announcer()
    assert announcer.engine_name() == ""  # start-up path stays free of speech work


def test_lines_are_spoken_one_after_another_and_none_is_cut_off(qtbot, make_announcer, monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")
    announcer = make_announcer(**{"general.language": "en"})
    journal = Journal(announcer)
    lines = ["first order one two three", "second order", "third order four"]
    for line in lines:
        announcer.announce(line)
    qtbot.waitUntil(lambda: len(journal.finished()) == 3, timeout=10_000)
    assert journal.events == [(what, line) for line in lines for what in ("started", "finished")]
    assert announcer.pending() == 0


def test_acknowledged_orders_are_dropped_from_the_queue(qtbot, make_announcer, monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")
    announcer = make_announcer(**{"general.language": "en"})
    journal = Journal(announcer)
    announcer.announce("order one", key="a")
    announcer.announce("order two", key="b")
    announcer.announce("order two again", key="b")
    announcer.announce("order three", key="c")
    announcer.cancel("b")
    qtbot.waitUntil(lambda: announcer.pending() == 0, timeout=10_000)
    assert journal.finished() == ["order one", "order three"]
    announcer.announce("x", key="d")
    announcer.announce("y", key="e")
    announcer.clear()
    qtbot.waitUntil(lambda: announcer.pending() == 0, timeout=10_000)
    assert journal.finished()[-1] == "x"  # the one already playing finishes


def test_a_broken_speech_service_is_explained_and_lines_still_finish(qtbot, make_announcer,
                                                                     monkeypatch, tmp_path):
    # libspeechd connects where SPEECHD_ADDRESS says: nowhere.
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path}/no-speechd.sock")
    monkeypatch.setenv("SPEECHD_SOCK", f"{tmp_path}/no-speechd.sock")
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "speechd")
    announcer = make_announcer()
    journal = Journal(announcer)
    announcer.announce("订单 1234")
    qtbot.waitUntil(lambda: journal.finished() == ["订单 1234"], timeout=10_000)
    assert not announcer.available()
    assert "speechd" in announcer.problem()


def test_speech_turned_off_still_finishes_lines(qtbot, make_announcer, monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "none")
    announcer = make_announcer()
    journal = Journal(announcer)
    announcer.announce("订单 1234")
    qtbot.waitUntil(lambda: journal.finished() == ["订单 1234"], timeout=5_000)
    assert not announcer.available() and announcer.problem()


@pytest.mark.needs_session
def test_mandarin_voice_is_found_by_name_under_the_c_locale(qtbot, make_announcer):
    announcer = make_announcer()
    wait_voice_ready(qtbot, announcer)
    assert announcer.engine_name() == "speechd"
    zh = announcer.voices("zh_CN")
    # espeak-ng's Pinyin variant reads Chinese characters; "latin as English" spells pinyin.
    assert zh and zh[0] == "Chinese (Mandarin, latin as Pinyin)"
    assert any("English" in name for name in announcer.voices("en"))


@pytest.mark.needs_session
def test_chime_plays_even_without_speech(qtbot, make_announcer, monkeypatch, tmp_path):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "none")
    announcer = make_announcer()
    journal = Journal(announcer)
    # As in the app: chimes load once the event loop runs. (A chime played while QtMultimedia
    # is still starting in this process can come out a second late, after the recording.)
    qtbot.waitUntil(announcer.chimes_loaded, timeout=5_000)
    with AudioRecorder(tmp_path, "chime.wav") as recorder:
        announcer.announce("订单 1234", chime="new_order")
        qtbot.waitUntil(lambda: bool(journal.finished()), timeout=5_000)
    assert rms(recorder.path) > SPEECH_RMS


@pytest.mark.needs_session
def test_announcement_is_spoken_into_the_speakers(qtbot, make_announcer, tmp_path):
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    with AudioRecorder(tmp_path, "speech.wav") as recorder:
        announcer.announce("订单 1234")
        qtbot.waitUntil(lambda: bool(journal.finished()), timeout=15_000)
    assert journal.events == [("started", "订单 1234"), ("finished", "订单 1234")]
    assert rms(recorder.path) > SPEECH_RMS


@pytest.mark.needs_session
def test_chimes_still_play_after_a_player_was_deleted_mid_chime(qtbot, tmp_path):
    """The chime worker is shared: a player that goes away while its chime plays (a closed
    settings dialog's test voice) must not take the next chime down with it."""
    import shiboken6

    from notifier.desktop.sounds import ChimePlayer

    first = ChimePlayer()
    first.preload()
    assert first.play("alert")
    shiboken6.delete(first)  # gone before PulseAudio has finished playing its chime
    second = ChimePlayer()
    done: list[str] = []
    second.done.connect(done.append)
    qtbot.wait(3000)  # the first chime has drained (the null sink adds ~2 s) into a deleted player
    with AudioRecorder(tmp_path, "after.wav") as recorder:
        assert second.play("reminder")
        qtbot.waitUntil(lambda: done == ["reminder"], timeout=8_000)
    assert rms(recorder.path) > SPEECH_RMS


@pytest.mark.needs_session
def test_chimes_are_read_when_they_play_at_any_volume_and_a_vanished_file_costs_that_chime_only(
        qtbot, tmp_path, monkeypatch):
    """The chimes' samples are not kept in memory (issue 27): each is read from its file when it
    plays. At half volume it still sounds (quieter); a file gone since start-up costs that chime,
    not the next one."""
    import shutil

    from notifier.desktop import sounds

    folder = tmp_path / "sounds"
    folder.mkdir()
    for name in sounds.CHIMES:
        shutil.copy(sounds.chime_path(name), folder / f"{name}.wav")
    monkeypatch.setattr(sounds, "chime_path", lambda name: folder / f"{name}.wav")
    player = sounds.ChimePlayer()
    player.preload()
    done: list[str] = []
    player.done.connect(done.append)

    def played(name: str, recording: str) -> float:
        before = len(done)
        with AudioRecorder(tmp_path, recording) as recorder:
            assert player.play(name)
            qtbot.waitUntil(lambda: done[before:] == [name], timeout=8_000)
        return rms(recorder.path)

    full = played("alert", "full.wav")
    player.set_volume(0.5)
    half = played("alert", "half.wav")
    assert SPEECH_RMS < half < full * 0.8
    (folder / "reminder.wav").unlink()
    before = len(done)
    assert player.play("reminder")  # it was there at start-up; it ends without a sound
    qtbot.waitUntil(lambda: done[before:] == ["reminder"], timeout=8_000)
    assert played("new_order", "after.wav") > SPEECH_RMS


SPEAK_UNDER_LOCALE = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from notifier.core.settings import Settings
from notifier.desktop.voice import Announcer
announcer = Announcer(Settings({"general.language": "zh_CN"}))
announcer.finished.connect(lambda text: app.quit())
announcer.announce("您有新的订单，订单号 1234")
sys.exit(app.exec() or (1 if announcer.problem() else 0))
"""


@pytest.mark.needs_session
def test_a_chinese_system_locale_still_speaks(tmp_path):
    """speechd lists no zh_CN locale and reports an error at start under LANG=zh_CN.UTF-8 (a
    Chinese shop PC); the announcer must still speak, with the Mandarin voice picked by name."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8"}
    env.pop("NOTIFIER_TTS_ENGINE", None)
    with AudioRecorder(tmp_path, "zh.wav") as recorder:
        result = subprocess.run([sys.executable, "-c", SPEAK_UNDER_LOCALE], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert rms(recorder.path) > SPEECH_RMS
