"""Saying orders out loud: a queue of announcements, each a chime and then the words.

One voice at a time and none cut off: the announcer keeps its own queue and hands the engine
one line only when the previous one has finished (QTextToSpeech.say() would cancel what is being
spoken, and the ids of enqueue() were unreliable). A line for an order that gets acknowledged
while it waits is dropped (`cancel(key)`).

The engine (QtTextToSpeech) is chosen explicitly per platform and created only after the event
loop runs. speech-dispatcher's engine blocks for 1.2-1.5 s while it connects and lists its 1,500
voices (measured here), and can hang when the daemon is stuck, so it lives in its own thread;
the main thread only ever sends it requests through queued signals. Without any engine the
chimes still play and `problem()` says why there is no voice.

Environment: NOTIFIER_TTS_ENGINE=mock selects Qt's silent test engine (tests that are not about
audio), =none turns speech off, any other value names the engine to use.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QLocale, QObject, QThread, QTimer, Signal, Slot

from notifier.core import wording
from notifier.desktop.sounds import ChimePlayer

log = logging.getLogger(__name__)

PLATFORM_ENGINES = {"win32": ("winrt", "sapi"), "darwin": ("darwin",)}
LINUX_ENGINES = ("speechd",)
# Engines whose construction blocks the calling thread (speechd: 1.2-1.5 s seen here).
THREADED_ENGINES = frozenset({"speechd"})
OPEN_TIMEOUT_MS = 15_000
# How long one line may take before we stop waiting for the engine to say it finished:
# espeak-ng's Mandarin needs ~0.27 s per character at normal speed (7.3 s for 27 characters).
WATCHDOG_BASE_MS = 10_000
WATCHDOG_PER_CHAR_MS = 400
WATCHDOG_MAX_MS = 120_000

# Voice names that mean the language, for engines that do not list voices per locale
# (speechd + espeak-ng: zh_CN is not a locale there, every voice sits under "C").
NAME_HINTS = {"zh_CN": ("mandarin", "chinese", "中文", "普通话", "huihui", "yaoyao", "kangkang",
                        "xiaoxiao", "tingting"),
              "en": ("english",)}
# espeak-ng's "Mandarin, latin as English" voice reads characters it lacks as English-spelled
# pinyin ("jin one e two" for 金额: seen with `espeak-ng -x`); the Pinyin one reads them right.
PREFERRED = {"zh_CN": ("latin as pinyin", "mandarin"), "en": ("america", "great britain")}
LOCALES = {"zh_CN": ("zh_CN", "zh_SG", "zh_TW"), "en": ("en_US", "en_GB", "en_AU", "en_CA")}


def _tts_class():
    try:
        from PySide6.QtTextToSpeech import QTextToSpeech
    except ImportError as exc:  # e.g. libpulse missing on Linux
        return None, str(exc)
    return QTextToSpeech, ""


def preferred_engines(platform: str = sys.platform) -> tuple[str, ...]:
    return PLATFORM_ENGINES.get(platform, LINUX_ENGINES)


def choose_engine(wanted: str, available: list[str], env: str | None = None) -> str | None:
    """The engine to use: the environment's, the configured one, then the platform's best.

    "mock" only when asked for by the environment: it is silent and exists for tests.
    """
    if env:
        return env if env in available else None
    if wanted and wanted in available and wanted != "mock":
        return wanted
    for name in preferred_engines():
        if name in available:
            return name
    return next((name for name in available if name != "mock"), None)


def _rank(name: str, language: str) -> tuple:
    lower = name.lower()
    preferred = PREFERRED.get(language, ())
    score = next((i for i, hint in enumerate(preferred) if hint in lower), len(preferred))
    return ("+" in name, score, name)  # espeak variants ("...+Adam") after the plain voice


@dataclass(slots=True)
class _Line:
    text: str
    chime: str | None
    key: str | None
    language: str
    voice: str
    volume: float
    rate: float


class _Engine(QObject):
    """Owns the QTextToSpeech object, in whatever thread it was moved to."""

    opened = Signal(str, str)  # engine name, error ("" when ready)
    began = Signal(int)  # serial of the line now being spoken
    ended = Signal(int, str)  # serial, error ("" when it finished normally)
    voice_missing = Signal(str)  # language with no voice of its own

    def __init__(self) -> None:
        super().__init__()
        self.tts = None
        self.name = ""
        self.error = ""
        self.is_open = threading.Event()
        self.listed = threading.Event()
        self.voice_lists: dict[str, list[str]] = {}
        self._picked: dict[tuple[str, str], Any] = {}
        self._serial = -1
        self._speaking = False

    @Slot(str)
    def open(self, name: str) -> None:
        cls, error = _tts_class()
        self.name = name
        if cls is None:
            self._report_open(error)
            return
        self.tts = cls(name, self)
        self.tts.stateChanged.connect(self._state_changed)
        state = self.tts.state()
        if state == cls.State.Error:
            # speechd reports an error at start when the system locale is one it does not list
            # (zh_CN: its Mandarin voices sit under "C"), yet speaks fine with a voice picked by
            # name (seen here with LANG=zh_CN.UTF-8). Only an engine without voices is broken.
            error = self.tts.errorString() or "error"
            self.tts.setLocale(QLocale.c())
            if self.tts.availableVoices():
                log.info("speech engine %s: %s (voices are picked by name)", name, error)
                self._report_open("")
            else:
                self._report_open(error)
        elif state == cls.State.Ready:
            self._report_open("")
        # else: still initialising (winrt does so asynchronously); _state_changed reports.

    def _report_open(self, error: str) -> None:
        if self.is_open.is_set():
            return
        self.error = error
        self.is_open.set()
        self.opened.emit(self.name, error)

    def _state_changed(self, state) -> None:
        states = type(self.tts).State
        if not self.is_open.is_set():
            if state in (states.Ready, states.Error):
                self._report_open(self.tts.errorString() if state == states.Error else "")
            return
        if self._serial < 0:
            return
        if state in (states.Speaking, states.Synthesizing):
            if not self._speaking:
                self._speaking = True
                self.began.emit(self._serial)
        elif state in (states.Ready, states.Error):
            serial, self._serial, self._speaking = self._serial, -1, False
            error = self.tts.errorString() if state == states.Error else ""
            self.ended.emit(serial, error)

    def _voices_for(self, language: str) -> list:
        """The engine's voices for a language (by locale, else by name under the "C" locale)."""
        tts = self.tts
        available = {loc.name() for loc in tts.availableLocales()}
        for name in LOCALES.get(language, ()):
            if name in available:
                tts.setLocale(QLocale(name))
                voices = list(tts.availableVoices())
                if voices:
                    return voices
        tts.setLocale(QLocale.c())
        hints = NAME_HINTS.get(language, ())
        return [v for v in tts.availableVoices() if any(h in v.name().lower() for h in hints)]

    def _pick(self, language: str, wanted: str):
        cache_key = (language, wanted)
        if cache_key in self._picked:
            return self._picked[cache_key]
        voices = sorted(self._voices_for(language), key=lambda v: _rank(v.name(), language))
        choice = None
        if wanted:
            choice = next((v for v in voices if v.name() == wanted), None)
            if choice is None:  # a voice of another language the owner chose on purpose
                self.tts.setLocale(QLocale.c())
                choice = next((v for v in self.tts.availableVoices() if v.name() == wanted), None)
            if choice is None:
                log.warning("voice %r not found; using the default for %s", wanted, language)
        if choice is None and voices:
            choice = voices[0]
        if choice is None:
            self.voice_missing.emit(language)
        self._picked[cache_key] = choice
        return choice

    @Slot(int, str, str, str, float, float)
    def speak(self, serial: int, text: str, language: str, voice: str, volume: float,
              rate: float) -> None:
        if self.tts is None or self.error:
            self.ended.emit(serial, self.error or "no engine")
            return
        choice = self._pick(language, voice)
        if choice is not None and self.tts.voice() != choice:
            self.tts.setVoice(choice)
        self.tts.setVolume(min(1.0, max(0.0, volume)))
        self.tts.setRate(min(1.0, max(-1.0, rate)))
        self._serial, self._speaking = serial, False
        self.tts.say(text)

    @Slot()
    def stop(self) -> None:
        self._serial, self._speaking = -1, False
        if self.tts is not None:
            self.tts.stop()

    @Slot(str)
    def list_voices(self, language: str) -> None:
        try:
            names = [] if self.tts is None or self.error else [v.name() for v in sorted(
                self._voices_for(language), key=lambda v: _rank(v.name(), language))]
            self.voice_lists[language] = names
        finally:
            self.listed.set()


class Announcer(QObject):
    """Queues announcements and speaks them one after another, each after its chime."""

    started = Signal(str)  # a line's words begin (the console log prints it)
    finished = Signal(str)  # a line is over (said, failed or given up on)

    _open = Signal(str)
    _speak = Signal(int, str, str, str, float, float)
    _stop = Signal()
    _list = Signal(str)

    def __init__(self, settings: Mapping[str, Any], parent: QObject | None = None, *,
                 warm_up: bool = True):
        super().__init__(parent)
        self.settings = settings
        self._queue: deque[_Line] = deque()
        self._current: _Line | None = None
        self._phase = "idle"  # idle | chime | waiting (for the engine) | words
        self._serial = 0
        self._engine: _Engine | None = None
        self._thread: QThread | None = None
        self._engine_name: str | None = None
        self._problem = ""
        self._missing: set[str] = set()
        self._chimes = ChimePlayer(self)
        self._chimes.done.connect(self._chime_done)
        self._chimes.set_volume(settings["voice.volume"])
        self._watchdog = QTimer(self, singleShot=True)
        self._watchdog.timeout.connect(self._gave_up)
        self._open_timer = QTimer(self, singleShot=True)
        self._open_timer.timeout.connect(self._open_timed_out)
        # Warm up once the event loop runs: the first order should not wait 1.5 s for speechd.
        # (The app passes warm_up=False and calls warm_up() once its connection is settled:
        # opening speechd holds the GIL for ~1.2 s and would delay connecting by as much.)
        if warm_up:
            QTimer.singleShot(0, self.warm_up)

    # -- public API ------------------------------------------------------------------------

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        old_engine = self.settings["voice.engine"]
        self.settings = settings
        self._chimes.set_volume(settings["voice.volume"])
        if settings["voice.engine"] != old_engine and self._engine is not None:
            self.shutdown()
            self._problem = ""
            self._missing.clear()
            self._ensure_engine()

    def announce(self, text: str, *, chime: str | None = None, key: str | None = None) -> None:
        """Queue a line; it is spoken after everything queued before it, its chime first."""
        self._queue.append(self._line(text, chime, key, self.settings))
        self._pump()

    def cancel(self, key: str) -> None:
        """Drop the queued lines for this key (an acknowledged order); what is playing finishes."""
        self._queue = deque(line for line in self._queue if line.key != key)

    def clear(self) -> None:
        """Drop every queued line; what is playing finishes."""
        self._queue.clear()

    def drop_waiting(self, keys: set[str]) -> list[str]:
        """Remove the waiting lines (not the one being spoken) with these keys; returns the keys
        that were still waiting."""
        dropped = [line.key for line in self._queue if line.key in keys]
        if dropped:
            self._queue = deque(line for line in self._queue if line.key not in keys)
        return dropped

    def queued_keys(self) -> set[str]:
        """Keys of the lines waiting to be spoken (not the one being spoken)."""
        return {line.key for line in self._queue if line.key is not None}

    def pending(self) -> int:
        """Lines queued or playing."""
        return len(self._queue) + (self._current is not None)

    def test(self, settings: Mapping[str, Any]) -> None:
        """Speak a sample order with these (possibly unsaved) settings."""
        language = wording.effective_language(settings)
        text = wording.announcement(wording.sample_event(), settings, language)
        self._queue.append(self._line(text, "new_order", None, settings))
        self._pump()

    def engines(self) -> list[str]:
        cls, _error = _tts_class()
        if cls is None:
            return []
        mock_ok = os.environ.get("NOTIFIER_TTS_ENGINE") == "mock"
        return [name for name in cls.availableEngines() if name != "mock" or mock_ok]

    def chimes_loaded(self) -> bool:
        """Whether the chimes are loaded (the app loads them once its event loop runs)."""
        return self._chimes.loaded()

    def engine_name(self) -> str:
        """The engine in use ("" before it is chosen or when there is none)."""
        return self._engine_name or ""

    def available(self) -> bool:
        """Whether words can be spoken (True while the engine is still starting)."""
        self._ensure_engine()
        return self._engine is not None and not self._problem

    def problem(self) -> str:
        """A sentence saying why there is no voice (or no voice for the language); "" if fine."""
        self._ensure_engine()
        if self._problem:
            return self._problem
        language = wording.effective_language(self.settings)
        if language in self._missing:
            return self._no_voice_sentence(language)
        return ""

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the engine has started (or failed); True when it can speak."""
        self._ensure_engine()
        if self._engine is None:
            return False
        if not self._engine.is_open.wait(timeout):
            return False
        if self._engine.error and not self._problem:
            self._opened(self._engine.name, self._engine.error)
        return not self._problem

    def voices(self, language: str) -> list[str]:
        """Names of the voices for "zh_CN" or "en". May take seconds: call on demand only."""
        if not self.wait_ready():
            return []
        engine = self._engine
        if self._thread is None:
            engine.list_voices(language)
        else:
            engine.listed.clear()
            self._list.emit(language)
            if not engine.listed.wait(10.0):
                log.warning("speech engine did not list its voices within 10 s")
                return []
        return list(engine.voice_lists.get(language, []))

    def shutdown(self) -> None:
        """Stop the engine (and its thread); a later announcement starts it again."""
        self._open_timer.stop()
        self._watchdog.stop()
        engine, thread = self._engine, self._thread
        self._engine = self._thread = None
        self._engine_name = None
        if self._phase == "words":
            self._finish_line()
        if engine is not None:
            for signal in (self._open, self._speak, self._stop, self._list):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass
        if thread is not None:
            thread.quit()
            if not thread.wait(3000):
                log.warning("speech thread did not stop; terminating it")
                thread.terminate()
                thread.wait(1000)
            _THREADS.discard(thread)
        if engine is not None:
            engine.deleteLater()

    # -- engine ----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Open the speech engine and load the chimes now (idempotent)."""
        self._ensure_engine()
        self._chimes.preload()

    def _ensure_engine(self) -> None:
        if self._engine is not None or self._problem:
            return
        cls, error = _tts_class()
        if cls is None:
            self._problem = self.tr("Speech is not available: the Qt speech module could not be "
                                    "loaded ({error}).").format(error=error)
            log.warning("no speech: %s", error)
            return
        env = os.environ.get("NOTIFIER_TTS_ENGINE", "").strip()
        if env == "none":
            self._problem = self.tr("Speech is turned off (NOTIFIER_TTS_ENGINE=none).")
            return
        available = list(cls.availableEngines())
        name = choose_engine(self.settings["voice.engine"], available, env or None)
        if name is None:
            self._problem = self.tr(
                "No speech engine was found on this computer, so orders are not read aloud "
                "(chimes still play). On Linux install speech-dispatcher and espeak-ng.")
            log.warning("no speech engine among %s", available)
            return
        log.info("speech engine: %s (of %s)", name, ", ".join(available))
        self._engine_name = name
        engine = _Engine()
        self._engine = engine
        if name in THREADED_ENGINES:
            self._thread = QThread()
            self._thread.setObjectName("speech")
            engine.moveToThread(self._thread)
            _THREADS.add(self._thread)
            _stop_threads_on_quit()
            self._thread.start()
        engine.opened.connect(self._opened)
        engine.began.connect(self._began)
        engine.ended.connect(self._ended)
        engine.voice_missing.connect(self._voice_missing)
        self._open.connect(engine.open)
        self._speak.connect(engine.speak)
        self._stop.connect(engine.stop)
        self._list.connect(engine.list_voices)
        self._open_timer.start(OPEN_TIMEOUT_MS)
        if self._thread is None:
            engine.open(name)  # quick engines open right here
        else:
            self._open.emit(name)

    def _opened(self, name: str, error: str) -> None:
        self._open_timer.stop()
        if not error:
            log.info("speech engine %s ready", name)
        if error and not self._problem:
            self._problem = self.tr("The speech engine {engine} could not start: {error}").format(
                engine=name, error=error)
            log.warning("speech engine %s failed: %s", name, error)
        if self._phase == "waiting":
            self._say_current()

    def _open_timed_out(self) -> None:
        if self._engine is not None and not self._engine.is_open.is_set():
            self._problem = self.tr("The speech engine {engine} did not answer within {seconds} "
                                    "seconds.").format(engine=self._engine_name,
                                                       seconds=OPEN_TIMEOUT_MS // 1000)
            log.warning("speech engine %s did not open", self._engine_name)
            if self._phase == "waiting":
                self._say_current()

    def _voice_missing(self, language: str) -> None:
        self._missing.add(language)
        log.warning("no %s voice in speech engine %s", language, self._engine_name)

    def _no_voice_sentence(self, language: str) -> str:
        if language == "zh_CN":
            return self.tr("No Chinese voice is installed, so orders may not be read correctly. "
                           "Install a Chinese voice in the system's speech settings.")
        return self.tr("No English voice is installed, so orders may not be read correctly.")

    # -- the queue -------------------------------------------------------------------------

    def _line(self, text: str, chime: str | None, key: str | None,
              settings: Mapping[str, Any]) -> _Line:
        return _Line(text=wording.plain(text, wording.SPOKEN_MAX_CHARS), chime=chime, key=key,
                     language=wording.effective_language(settings), voice=settings["voice.name"],
                     volume=float(settings["voice.volume"]), rate=float(settings["voice.rate"]))

    def _pump(self) -> None:
        if self._current is not None or not self._queue:
            return
        line = self._current = self._queue.popleft()
        self._chimes.set_volume(line.volume)
        if line.chime and self._chimes.play(line.chime):
            self._phase = "chime"
        else:
            self._say_current()

    def _chime_done(self, _name: str) -> None:
        if self._phase == "chime":
            self._say_current()

    def _say_current(self) -> None:
        line = self._current
        if line is None:
            return
        self._ensure_engine()
        engine = self._engine
        if not line.text or engine is None or self._problem:
            # No voice: the chime was the announcement; still tell the log what it would say.
            self._phase = "words"
            self.started.emit(line.text)
            self._finish_line()
            return
        if not engine.is_open.is_set():
            self._phase = "waiting"  # _opened() comes back here
            return
        self._phase = "words"
        self._serial += 1
        slowness = 1.0 + max(0.0, -line.rate)  # rate -1 is about half speed
        self._watchdog.start(min(WATCHDOG_MAX_MS, int(
            (WATCHDOG_BASE_MS + WATCHDOG_PER_CHAR_MS * len(line.text)) * slowness)))
        self._speak.emit(self._serial, line.text, line.language, line.voice, line.volume,
                         line.rate)

    def _began(self, serial: int) -> None:
        if serial == self._serial and self._current is not None and self._phase == "words":
            self.started.emit(self._current.text)

    def _ended(self, serial: int, error: str) -> None:
        if serial != self._serial or self._phase != "words":
            return
        if error:
            log.warning("speech failed: %s", error)
        self._finish_line()

    def _gave_up(self) -> None:
        if self._phase == "words" and self._current is not None:
            log.warning("speech engine did not finish a line in time; going on")
            self._stop.emit()
            self._finish_line()

    def _finish_line(self) -> None:
        line, self._current, self._phase = self._current, None, "idle"
        self._watchdog.stop()
        self._serial += 1  # a late "ended" for the old line is ignored
        if line is not None:
            self.finished.emit(line.text)
        self._pump()


# Speech threads still running; stopped when the application quits so none is destroyed while
# running (which aborts the process).
_THREADS: set[QThread] = set()
_hooked = False


def _stop_threads_on_quit() -> None:
    global _hooked
    app = QCoreApplication.instance()
    if _hooked or app is None:
        return
    _hooked = True
    app.aboutToQuit.connect(stop_all_threads)


def stop_all_threads() -> None:
    """Stop every speech thread (at quit, and at exit for scripts and tests that never quit)."""
    for thread in list(_THREADS):
        thread.quit()
        if not thread.wait(3000):
            thread.terminate()
            thread.wait(1000)
        _THREADS.discard(thread)


atexit.register(stop_all_threads)
