"""Speech in its own process: a helper that hangs is replaced, the words never clip, `doctor`
leaves a running app's speech alone and tells the truth when there is no audio.

All with real parts: the helper process, the session's speech-dispatcher + espeak-ng playing into
the PulseAudio null sink (recorded with parecord, measured with sox), and for the no-audio cases
a private speech-dispatcher whose sound server does not exist (tests/speech_session.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import AudioRecorder, max_amplitude, rms, sound_span, wait_voice_ready
from speech_session import alive, speechd_without_audio

from notifier.core.settings import Settings
from notifier.desktop import speech_supervisor
from notifier.desktop.speech_supervisor import helper_command, line_deadline_ms
from notifier.desktop.voice import Announcer

ROOT = Path(__file__).resolve().parents[2]
SPEECH_RMS = 0.02
MINUS_1_DBFS = 10 ** (-1 / 20)  # 0.891
ORDER_LINE = "您有新的订单，订单号 1234，金额 56.5 元"
LONG_LINE = "您有新的订单，订单号 1234，金额 56.5 元，顾客张三，请尽快处理，谢谢"


@pytest.fixture
def make_announcer(qtbot, monkeypatch):
    monkeypatch.delenv("NOTIFIER_TTS_ENGINE", raising=False)
    made: list[Announcer] = []

    def make(**values) -> Announcer:
        announcer = Announcer(Settings({"general.language": "zh_CN", **values}))
        made.append(announcer)
        return announcer

    yield make
    for announcer in made:
        announcer.shutdown()


class Journal:
    def __init__(self, announcer: Announcer):
        self.events: list[tuple[str, str, float]] = []
        announcer.started.connect(lambda text: self.events.append(("started", text, time.monotonic())))
        announcer.finished.connect(lambda text: self.events.append(("finished", text, time.monotonic())))

    def count(self, what: str, text: str) -> int:
        return sum(1 for w, t, _ in self.events if w == what and t == text)


def spoken_length(path: Path) -> float:
    """Seconds from the first to the last sound in a recording (silence trimmed by sox)."""
    span = sound_span(path)
    assert span is not None, f"{path} is silent"
    return span[1] - span[0]


def test_helper_is_started_from_the_same_program():
    assert helper_command()[-1] == "speech-helper"
    assert helper_command()[0] == sys.executable


def test_a_longer_line_gets_a_longer_deadline_and_a_slow_rate_more():
    assert line_deadline_ms("订单") < line_deadline_ms(ORDER_LINE) < line_deadline_ms(ORDER_LINE, -1.0)


@pytest.mark.needs_session
@pytest.mark.slow
def test_a_helper_frozen_mid_line_is_replaced_and_the_next_order_is_spoken(qtbot, make_announcer,
                                                                           tmp_path):
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    frozen = announcer.helper_pid()
    announcer.announce(ORDER_LINE)
    qtbot.waitUntil(lambda: journal.count("started", ORDER_LINE) == 1, timeout=10_000)
    qtbot.wait(500)
    os.kill(frozen, signal.SIGSTOP)
    stopped_at = time.monotonic()
    deadline_s = line_deadline_ms(ORDER_LINE) / 1000
    # Detected within the line's deadline (plus the restart pause), the frozen helper killed.
    qtbot.waitUntil(lambda: announcer.helper_pid() not in (0, frozen),
                    timeout=int((deadline_s + speech_supervisor.RESTART_BACKOFF_MS[0] / 1000 + 3) * 1000))
    assert time.monotonic() - stopped_at <= deadline_s + 4
    qtbot.waitUntil(lambda: not alive(frozen), timeout=2_000)
    # The cut line is tried once more on the new helper, then the next order is spoken.
    qtbot.waitUntil(lambda: journal.count("finished", ORDER_LINE) == 1, timeout=30_000)
    with AudioRecorder(tmp_path, "next.wav") as recorder:
        announcer.announce("订单 5678")
        qtbot.waitUntil(lambda: journal.count("finished", "订单 5678") == 1, timeout=20_000)
    assert rms(recorder.path) > SPEECH_RMS
    assert journal.count("started", ORDER_LINE) == 2  # said again after the freeze
    assert announcer.available() and not announcer.problem()


@pytest.mark.needs_session
def test_the_voice_does_not_clip_and_sounds_as_loud_as_the_chime(qtbot, make_announcer, tmp_path):
    announcer = make_announcer(**{"voice.volume": 1.0})
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    qtbot.waitUntil(announcer.chimes_loaded, timeout=5_000)
    with AudioRecorder(tmp_path, "voice.wav") as recorder:
        announcer.announce(ORDER_LINE)
        qtbot.waitUntil(lambda: journal.count("finished", ORDER_LINE) == 1, timeout=20_000)
    peak = max_amplitude(recorder.path)
    assert 0.1 < peak <= MINUS_1_DBFS, f"voice peak {peak:.3f} (limit {MINUS_1_DBFS:.3f})"
    voice_rms = rms(trimmed(recorder.path, tmp_path / "voice-trimmed.wav"))

    with AudioRecorder(tmp_path, "chime.wav") as recorder:
        announcer.announce("", chime="new_order")
        qtbot.waitUntil(lambda: journal.count("finished", "") == 1, timeout=10_000)
    chime_rms = rms(trimmed(recorder.path, tmp_path / "chime-trimmed.wav"))
    assert max_amplitude(recorder.path) <= MINUS_1_DBFS
    # Similar loudness: within 6 dB of each other.
    assert 0.5 <= chime_rms / voice_rms <= 2.0, f"chime RMS {chime_rms:.3f}, voice RMS {voice_rms:.3f}"


def trimmed(path: Path, out: Path) -> Path:
    subprocess.run(["sox", str(path), str(out), "silence", "1", "0.02", "0.5%", "reverse", "silence",
                    "1", "0.02", "0.5%", "reverse"], check=True, timeout=30)
    return out


@pytest.mark.needs_session
@pytest.mark.slow
def test_doctor_during_an_announcement_does_not_cut_it_short(qtbot, make_announcer, tmp_path,
                                                             notifier_home):
    """The running app answers doctor's question over the single-instance channel; doctor opens
    no speech engine of its own (closing one cancelled the app's line: 5.4 s of 7.1 s)."""
    import json

    from notifier.desktop.single_instance import SingleInstance

    announcer = make_announcer()
    journal = Journal(announcer)
    single = SingleInstance()
    assert single.acquire("show")
    single.answer("voice-status", lambda: json.dumps(announcer.status()))
    try:
        wait_voice_ready(qtbot, announcer)
        lengths = []
        for with_doctor in (False, True):
            said = len(lengths) + 1
            with AudioRecorder(tmp_path, f"line-{with_doctor}.wav") as recorder:
                announcer.announce(LONG_LINE)
                qtbot.waitUntil(lambda: journal.count("started", LONG_LINE) == said,  # noqa: B023
                                timeout=10_000)
                if with_doctor:
                    qtbot.wait(800)
                    doctor = subprocess.Popen(
                        [sys.executable, "-m", "notifier", "doctor", "--no-voices"], cwd=ROOT,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    qtbot.waitUntil(lambda: doctor.poll() is not None, timeout=30_000)  # noqa: B023
                    report = doctor.stdout.read()
                qtbot.waitUntil(lambda: journal.count("finished", LONG_LINE) == said,  # noqa: B023
                                timeout=30_000)
                qtbot.wait(300)
            lengths.append(spoken_length(recorder.path))
        assert lengths[1] >= 0.9 * lengths[0], f"line without doctor {lengths[0]:.2f} s, with {lengths[1]:.2f} s"
        assert "Speech: the running app" in report, report
    finally:
        single.release()


@pytest.mark.needs_session
def test_doctor_without_audio_says_speech_does_not_work_and_why(tmp_path):
    with speechd_without_audio(tmp_path / "speechd") as speech_env:
        env = {**os.environ, **speech_env}
        env.pop("NOTIFIER_TTS_ENGINE", None)
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "notifier", "doctor", "--no-voices"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    line = next((ln for ln in result.stdout.splitlines() if "Speech:" in ln), "")
    assert "speech does not work" in line and "speech-dispatcher cannot open audio" in line, result.stdout
    assert took < 30


HELPER_PARENT = """
import sys
from PySide6.QtCore import QCoreApplication, QTimer
app = QCoreApplication([])
from notifier.core.settings import Settings
from notifier.desktop.voice import Announcer
announcer = Announcer(Settings({"general.language": "en"}))
def tell():
    if announcer.helper_pid():
        print(announcer.helper_pid(), flush=True)
    else:
        QTimer.singleShot(50, tell)
QTimer.singleShot(50, tell)
app.exec()
"""


def test_the_helper_dies_with_the_app_even_when_the_app_is_killed(tmp_path):
    env = {**os.environ, "NOTIFIER_TTS_ENGINE": "mock"}
    parent = subprocess.Popen([sys.executable, "-c", HELPER_PARENT], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        helper = int(parent.stdout.readline())
        assert alive(helper)
        parent.kill()  # SIGKILL: no clean-up code of the app runs
        parent.wait(5)
        deadline = time.monotonic() + 3
        while alive(helper) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(helper), "the helper outlived the app"
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.needs_session
def test_a_speech_dispatcher_spawned_for_the_app_stops_with_it(qtbot, make_announcer, monkeypatch,
                                                               tmp_path):
    """No speech-dispatcher running: libspeechd starts one (`--spawn`) for the helper. It is the
    app's, so it goes when the app's voice shuts down; one that was running before is left."""
    from speech_session import process_tree

    session_sock = os.environ["SPEECHD_SOCK"]
    session_speechd = {pid for pid in process_tree(1) if session_sock in _speechd_cmdline(pid)}
    assert session_speechd
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # where libspeechd looks and spawns
    monkeypatch.delenv("SPEECHD_ADDRESS", raising=False)
    monkeypatch.delenv("SPEECHD_SOCK", raising=False)
    before = {pid for pid in process_tree(1) if _speechd_cmdline(pid)}
    announcer = make_announcer()
    wait_voice_ready(qtbot, announcer)
    spawned = {pid for pid in process_tree(1) if "--spawn" in _speechd_cmdline(pid)} - before
    assert spawned, "libspeechd should have started a speech-dispatcher for the helper"
    announcer.shutdown()
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in spawned) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in spawned), "the spawned speech-dispatcher outlived the app's voice"
    assert all(alive(pid) for pid in session_speechd), "a speech-dispatcher we did not start was stopped"


def _speechd_cmdline(pid: int) -> str:
    """The command line of a running speech-dispatcher ("" for any other process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return ""
    if os.path.basename(argv[0]) != b"speech-dispatcher" or not alive(pid):
        return ""
    return b" ".join(argv).decode(errors="replace")


@pytest.mark.needs_session
def test_a_helper_frozen_between_orders_is_replaced_before_the_next_one(qtbot, make_announcer,
                                                                       monkeypatch):
    monkeypatch.setattr(speech_supervisor, "HEARTBEAT_MS", 1_000)
    monkeypatch.setattr(speech_supervisor, "HEARTBEAT_DEADLINE_MS", 1_000)
    announcer = make_announcer()
    problems: list[str] = []
    announcer.voice_problem.connect(problems.append)
    # A first helper whose probe misses its deadline (speech-dispatcher starting on a loaded CI
    # machine) is replaced at once: what is tested starts from a helper that works.
    qtbot.waitUntil(lambda: announcer.available() and announcer.wait_ready(0.1), timeout=40_000)
    frozen = announcer.helper_pid()
    os.kill(frozen, signal.SIGSTOP)
    qtbot.waitUntil(lambda: announcer.helper_pid() not in (0, frozen), timeout=8_000)
    qtbot.waitUntil(lambda: not alive(frozen), timeout=2_000)
    qtbot.waitUntil(lambda: announcer.available() and announcer.wait_ready(0.1), timeout=20_000)
    assert problems and problems[-1] == ""  # told it was down, then that it is back


def test_a_voice_outage_turns_the_tray_icon_to_a_warning_and_says_why(qtbot):
    """Before: the icon stayed green (only the tooltip, hard to reach on many desktops, said it)."""
    from notifier.core.connection import ConnectionStatus, ConnState
    from notifier.desktop.tray import Tray

    tray = Tray()
    tray.set_status(ConnectionStatus(ConnState.CONNECTED, "shop:8080"))
    fine = tray.icon.icon().pixmap(22, 22).toImage()
    tray.set_voice_problem("speech-dispatcher cannot open audio: no sound server answers.")
    assert "Voice unavailable: speech-dispatcher cannot open audio" in tray.icon.toolTip()
    assert tray.action_voice_problem.isVisible()
    assert tray.action_voice_problem.text().startswith("Voice unavailable: speech-dispatcher")
    assert tray.icon.icon().pixmap(22, 22).toImage() != fine, "the icon shows the warning"
    tray.set_voice_problem("")
    assert "Voice unavailable" not in tray.icon.toolTip()
    assert not tray.action_voice_problem.isVisible()
    assert tray.icon.icon().pixmap(22, 22).toImage() == fine


@pytest.mark.needs_session
@pytest.mark.slow
def test_a_helper_that_crashes_mid_line_is_restarted_and_the_line_said_again(qtbot, make_announcer):
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    crashed = announcer.helper_pid()
    announcer.announce(ORDER_LINE)
    qtbot.waitUntil(lambda: journal.count("started", ORDER_LINE) == 1, timeout=10_000)
    os.kill(crashed, signal.SIGKILL)
    qtbot.waitUntil(lambda: journal.count("finished", ORDER_LINE) == 1, timeout=30_000)
    assert journal.count("started", ORDER_LINE) == 2  # tried once more, on a new helper
    assert announcer.helper_pid() not in (0, crashed)
    assert announcer.available()


def _quiet(announcer: Announcer, volume: float) -> None:
    """Lines announced from now on at this volume (their chimes too)."""
    announcer.apply_settings(Settings({"general.language": "zh_CN", "voice.volume": volume}))


@pytest.mark.needs_session
def test_a_helper_that_dies_while_idle_is_replaced_at_once_and_an_order_meanwhile_is_spoken(
        qtbot, make_announcer, tmp_path):
    """Before: the first restart waited 1 s, and an order in between got its chime and no words
    until its first repeat (60 s later)."""
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    qtbot.waitUntil(announcer.chimes_loaded, timeout=5_000)
    first = announcer.helper_pid()
    with AudioRecorder(tmp_path, "meanwhile.wav") as recorder:
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        qtbot.waitUntil(lambda: announcer.helper_pid() not in (0, first), timeout=5_000)
        replaced_after = time.monotonic() - killed
        announcer.announce(ORDER_LINE, chime="new_order")  # while the new helper starts
        qtbot.waitUntil(lambda: journal.count("finished", ORDER_LINE) == 1, timeout=30_000)
    assert replaced_after < 0.5, f"the first death was replaced after {replaced_after:.2f} s"
    # The chime (0.6 s) and then the words, once the new helper was ready.
    assert spoken_length(recorder.path) > 2.0, "the order's words were never said"
    assert journal.count("started", ORDER_LINE) == 1


@pytest.mark.needs_session
def test_while_a_crashing_helper_waits_to_be_restarted_a_new_order_still_chimes_at_once(
        qtbot, make_announcer, tmp_path, monkeypatch):
    """Before: the line a dying helper was saying waited for the next helper (the back-off grows
    to 60 s) and held up every chime behind it: 11.4 s, later 58 s with no sound at all."""
    backoff = (speech_supervisor.RESTART_BACKOFF_MS[0], 4_000)  # a second death in a row: 4 s
    monkeypatch.setattr(speech_supervisor, "RESTART_BACKOFF_MS", backoff)
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    qtbot.waitUntil(announcer.chimes_loaded, timeout=5_000)
    # Counted from here: a first helper that was slow to start on a busy machine (its probe
    # past the deadline, replaced) also ends with "voice is back", and that one is not ours.
    back: list[float] = []
    announcer.voice_problem.connect(lambda problem: problem or back.append(time.monotonic()))
    os.kill(announcer.helper_pid(), signal.SIGKILL)  # the first death: replaced at once
    qtbot.waitUntil(lambda: len(back) == 1, timeout=20_000)
    _quiet(announcer, 0.0)  # the line the second helper dies on: silent, so only the chime is heard
    announcer.announce(ORDER_LINE)
    qtbot.waitUntil(lambda: journal.count("started", ORDER_LINE) == 1, timeout=10_000)
    os.kill(announcer.helper_pid(), signal.SIGKILL)  # dies again at once: this one waits 4 s
    qtbot.waitUntil(lambda: announcer.problem() != "", timeout=5_000)
    _quiet(announcer, 1.0)
    with AudioRecorder(tmp_path, "chime.wav") as recorder:
        announced = time.monotonic()
        announcer.announce("订单 5678", chime="new_order")
        qtbot.waitUntil(lambda: journal.count("finished", "订单 5678") == 1, timeout=40_000)
    start, end = sound_span(recorder.path) or (99.0, 0.0)
    chime_after = start - (announced - recorder.started_at)
    assert chime_after < 1.0, f"the chime came {chime_after:.1f} s after the order"
    # Both lines said once the voice was back: the cut one again, the new one's words.
    assert len(back) == 2 and back[1] - announced > 2.5, "the second death should have waited"
    assert end > back[1] - recorder.started_at, "the new order's words were not said"
    assert journal.count("started", ORDER_LINE) == 2


@pytest.mark.needs_session
def test_cancelling_an_order_stops_its_line_mid_word_and_only_ours(qtbot, make_announcer):
    """Accepting an order (here or on another PC) cancels its line: it stops at once, not 3.6 to
    4.2 s later, and another program's speech goes on. Measured with `spd-say -w`, queued behind
    our line: it ends one sentence after the cancel when our line stops at once, later when our
    line plays on, sooner when the cancel also silenced it (Qt's own stop cancels every client)."""
    announcer = make_announcer()
    journal = Journal(announcer)
    wait_voice_ready(qtbot, announcer)
    other = ["spd-say", "-w", "-P", "message", "one two three four five six seven eight"]
    alone_started = time.monotonic()
    subprocess.run(other, check=True, timeout=30)
    alone = time.monotonic() - alone_started
    announcer.announce(LONG_LINE, key="order-1")
    qtbot.waitUntil(lambda: journal.count("started", LONG_LINE) == 1, timeout=10_000)
    queued = subprocess.Popen(other)
    qtbot.wait(800)
    cancelled = time.monotonic()
    announcer.cancel("order-1")
    qtbot.waitUntil(lambda: journal.count("finished", LONG_LINE) == 1, timeout=2_000)
    qtbot.waitUntil(lambda: queued.poll() is not None, timeout=30_000)
    other_took = time.monotonic() - cancelled
    assert other_took >= 0.8 * alone, f"the other program's sentence was cut: {other_took:.1f} s of {alone:.1f} s"
    assert other_took <= alone + 1.0, f"our line went on after the cancel ({other_took:.1f} s, alone {alone:.1f} s)"
