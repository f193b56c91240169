"""Saying orders out loud: a queue of announcements, each a chime and then the words.

One voice at a time: the announcer keeps its own queue and hands the speech helper one line only
when the previous one has finished. A line for an order that was accepted, rejected or
acknowledged is dropped, and stopped mid-word if it is being said (`cancel(key)`).

The words are spoken by a helper process (desktop/speech_helper.py, watched by
desktop/speech_supervisor.py): a speech library that hangs — speech-dispatcher without audio
blocks its client while holding the interpreter lock — costs the voice, never the app. This
process never calls into a speech library. The chime never waits for the helper: while it starts
or is being replaced, each line's chime plays at once and its words wait (`_deferred`, at most
`DEFERRED_MAX`) until the voice is back; a line cut short by a dying helper is said again once.
Only when speech is gone for good is the chime the whole announcement. `problem()` /
`voice_problem` say why there is no voice (the tray shows it).

Environment: NOTIFIER_TTS_ENGINE=mock selects Qt's silent test engine (tests that are not about
audio), =none turns speech off, any other value names the engine to use.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from notifier.core import wording
from notifier.desktop.sounds import ChimePlayer
from notifier.desktop.speech_helper import choose_engine, preferred_engines  # noqa: F401 - API
from notifier.desktop.speech_supervisor import Outage, SpeechSupervisor

log = logging.getLogger(__name__)

VOICES_TIMEOUT_S = 10.0
# Words kept for the voice's return; older ones are dropped (an order still waiting is repeated).
DEFERRED_MAX = 5
ATTEMPTS = 2  # a line cut short by a failing helper is said once more
# The chimes are mastered louder (RMS ~0.15) than speech-dispatcher's capped voice (~0.08, see
# speech_helper.ENGINE_VOLUME_CAP): played at this share of the volume they sound alike.
CHIME_LEVEL = 0.5


@dataclass(slots=True)
class _Line:
    text: str
    chime: str | None
    key: str | None
    language: str
    voice: str
    volume: float
    rate: float
    attempts: int = 0


class Announcer(QObject):
    """Queues announcements and speaks them one after another, each after its chime."""

    started = Signal(str)  # a line's words begin (the console log prints it)
    finished = Signal(str)  # a line is over (said, failed or given up on)
    # why there is no voice, as a sentence ("" when the voice works again); emitted on change
    voice_problem = Signal(str)

    def __init__(self, settings: Mapping[str, Any], parent: QObject | None = None, *,
                 warm_up: bool = True, open_timeout_ms: int | None = None):
        super().__init__(parent)
        self.settings = settings
        self._queue: deque[_Line] = deque()
        self._deferred: list[_Line] = []  # chimed; their words wait for the helper
        self._current: _Line | None = None
        self._phase = "idle"  # idle | chime | words
        self._line_id = 0
        self._off = ""  # why speech is off for good in this run ("" when it is on)
        self._closed = False  # shutdown() was called; warm_up() opens again
        self._shown_problem = ""
        self._missing: set[str] = set()
        self._checked_voice: set[tuple[str, str]] = set()
        self._chimes = ChimePlayer(self)
        self._chimes.done.connect(self._chime_done)
        self._chimes.set_volume(CHIME_LEVEL * settings["voice.volume"])
        extra = {} if open_timeout_ms is None else {"open_timeout_ms": open_timeout_ms}
        self._speech = SpeechSupervisor(self, **extra)
        self._speech.engine_wanted = settings["voice.engine"]
        self._speech.ready_changed.connect(self._speech_changed)
        self._speech.started.connect(self._began)
        self._speech.ended.connect(self._ended)
        self._speech.lost.connect(self._lost)
        self._speech.replied.connect(self._replied)
        # Warm up once the event loop runs: the helper starts in its own process, so this takes
        # nothing from the app's start-up, and the first order's words follow its chime at once.
        if warm_up:
            QTimer.singleShot(0, self.warm_up)

    # -- public API ------------------------------------------------------------------------

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        old = self.settings
        self.settings = settings
        self._chimes.set_volume(CHIME_LEVEL * settings["voice.volume"])
        if settings["voice.engine"] != old["voice.engine"] and not self._closed:
            self.shutdown()
            self._speech.engine_wanted = settings["voice.engine"]
            self._speech.allow_restart()
            self._missing.clear()
            self._checked_voice.clear()
            self.warm_up()
        elif self._speech.usable():
            self._check_voice()

    def announce(self, text: str, *, chime: str | None = None, key: str | None = None) -> None:
        """Queue a line; it is spoken after everything queued before it, its chime first."""
        self._queue.append(self._line(text, chime, key, self.settings))
        self._pump()

    def cancel(self, key: str) -> None:
        """Drop the lines for this key (an order someone accepted, rejected or acknowledged), and
        stop the one being said mid-word if it is this order's: nobody needs the rest of it."""
        self.drop_waiting({key})
        if self._current is not None and self._current.key == key:
            self._stop_current()

    def clear(self) -> None:
        """Drop every queued line; what is playing finishes."""
        self._queue.clear()
        self._deferred.clear()

    def drop_waiting(self, keys: set[str]) -> list[str]:
        """Remove the waiting lines (not the one being spoken) with these keys; returns the keys
        that were still waiting."""
        dropped = [line.key for line in (*self._deferred, *self._queue) if line.key in keys]
        if dropped:
            self._queue = deque(line for line in self._queue if line.key not in keys)
            self._deferred = [line for line in self._deferred if line.key not in keys]
        return dropped

    def queued_keys(self) -> set[str]:
        """Keys of the lines waiting to be spoken (not the one being spoken)."""
        return {line.key for line in (*self._deferred, *self._queue) if line.key is not None}

    def current_key(self) -> str | None:
        """The key of the line being chimed or said now (None when idle or it has none)."""
        return self._current.key if self._current is not None else None

    def pending(self) -> int:
        """Lines queued, waiting for the voice, or playing."""
        return len(self._queue) + len(self._deferred) + (self._current is not None)

    def test(self, settings: Mapping[str, Any]) -> None:
        """Speak a sample order with these (possibly unsaved) settings."""
        language = wording.effective_language(settings)
        text = wording.announcement(wording.sample_event(), settings, language)
        self._queue.append(self._line(text, "new_order", None, settings))
        self._pump()

    def engines(self) -> list[str]:
        """The speech engines the helper found (empty until it has started)."""
        return list(self._speech.info.get("engines") or [])

    def chimes_loaded(self) -> bool:
        """Whether the chimes are loaded (the app loads them once its event loop runs)."""
        return self._chimes.loaded()

    def engine_name(self) -> str:
        """The engine in use ("" before the helper has started or when there is none)."""
        return str(self._speech.info.get("engine") or "")

    def helper_pid(self) -> int:
        """The speech helper's process id (0 when none runs)."""
        return self._speech.pid()

    def available(self) -> bool:
        """Whether words can be spoken (True while the helper is still starting)."""
        self._ensure_started()
        return not self._off and self._speech.outage() is None

    def problem(self) -> str:
        """A sentence saying why there is no voice (or no voice for the language); "" if fine."""
        self._ensure_started()
        if self._off:
            return self._off
        outage = self._speech.outage()
        if outage is not None:
            return self._outage_sentence(outage)
        language = wording.effective_language(self.settings)
        if language in self._missing:
            return self._no_voice_sentence(language)
        return ""

    def status(self) -> dict[str, Any]:
        """What `notifier doctor` asks a running app: the voice's state, without touching it."""
        return {"state": "off" if self._off else self._speech.state,
                "engine": self.engine_name(), "available": self.available(),
                "problem": self.problem(), "speaking": self._phase == "words"}

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait (turning the event loop) until the helper has started or failed; True when it
        can speak. For on-demand callers (doctor, tests) only."""
        self._ensure_started()
        if self._off:
            return False
        self._speech.wait_settled(timeout)
        return self._speech.usable()

    def voices(self, language: str) -> list[str]:
        """Names of the voices for "zh_CN" or "en". May take seconds: call on demand only."""
        if not self.wait_ready():
            return []
        reply = self._speech.ask("list-voices", VOICES_TIMEOUT_S, language=language)
        if reply is None:
            log.warning("speech helper did not list its voices within %d s", VOICES_TIMEOUT_S)
            return []
        return list(reply.get("names") or [])

    def voice_for(self, language: str, timeout: float = 10.0) -> str | None:
        """The voice the helper would use for a language ("" when it has none; None when the
        helper does not answer). On demand only (doctor)."""
        if not self.wait_ready(timeout):
            return None
        reply = self._speech.ask("status", timeout, language=language, voice=self.settings["voice.name"])
        return None if reply is None else str(reply.get("voice") or "")

    def shutdown(self) -> None:
        """Stop the helper (lines after this only chime); warm_up() starts it again."""
        self._closed = True
        self._deferred.clear()
        if self._phase == "words":
            self._finish_line()
        self._speech.shutdown()

    # -- the helper ------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Start the speech helper and load the chimes now (idempotent)."""
        self._closed = False
        self._ensure_started()
        self._chimes.preload()

    def _ensure_started(self) -> None:
        if self._off or self._closed or self._speech.state != "off":
            return
        if os.environ.get("NOTIFIER_TTS_ENGINE", "").strip() == "none":
            self._off = self.tr("Speech is turned off (NOTIFIER_TTS_ENGINE=none).")
            return
        self._speech.start()

    def _speech_changed(self) -> None:
        if self._speech.usable():
            self._check_voice()
            self._resume_deferred()
        elif self._speech.gave_up():
            # No voice in this run: their chimes were the announcement; the log says the words.
            dropped, self._deferred = self._deferred, []
            for line in dropped:
                self.started.emit(line.text)
                self.finished.emit(line.text)
        self._tell_problem()

    def _resume_deferred(self) -> None:
        """The voice is back: the words that waited for it go first (their chimes have played)."""
        if not self._deferred:
            return
        waiting, self._deferred = self._deferred, []
        for line in reversed(waiting):
            line.chime = None
            self._queue.appendleft(line)
        self._pump()

    def _check_voice(self) -> None:
        """Ask the helper once per language and voice whether it has a voice for it."""
        language = wording.effective_language(self.settings)
        key = (language, self.settings["voice.name"])
        if key not in self._checked_voice:
            self._checked_voice.add(key)
            self._speech.request("status", language=language, voice=key[1])

    def _replied(self, reply: dict) -> None:
        if "voice" in reply and reply.get("event") == "status":
            language = wording.effective_language(self.settings)
            if not reply.get("voice") and not reply.get("error"):
                self._missing.add(language)
                log.warning("no %s voice in speech engine %s", language, self.engine_name())
            else:
                self._missing.discard(language)
            self._tell_problem()

    def _tell_problem(self) -> None:
        problem = self.problem()
        if problem != self._shown_problem:
            self._shown_problem = problem
            if problem:
                log.warning("voice unavailable: %s", problem)
            self.voice_problem.emit(problem)

    def _outage_sentence(self, outage: Outage) -> str:
        engine = self.engine_name()
        if outage.code == "no-audio":
            return self.tr("speech-dispatcher cannot open audio: no sound server answers.")
        if outage.code in ("timeout", "open-timeout"):
            if not engine:  # the helper did not even say which engine it opened
                return self.tr("The speech engine did not answer in {seconds} s.").format(
                    seconds=outage.seconds)
            return self.tr("The speech engine {engine} did not answer in {seconds} s.").format(
                engine=engine, seconds=outage.seconds)
        if outage.code == "exited":
            if self._speech.gave_up():
                return self.tr("The speech helper could not be started.")
            return self.tr("The speech helper stopped unexpectedly; it is being restarted.")
        if outage.code == "no-engine":
            if "Qt speech module" in outage.detail:
                return self.tr("Speech is not available: the Qt speech module could not be "
                               "loaded.")
            return self.tr(
                "No speech engine was found on this computer, so orders are not read aloud "
                "(chimes still play). On Linux install speech-dispatcher and espeak-ng.")
        return self.tr("The speech engine {engine} could not start: {error}").format(
            engine=engine or "?", error=outage.detail)

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
        self._chimes.set_volume(CHIME_LEVEL * line.volume)
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
        self._ensure_started()
        if not line.text or self._off or self._closed or self._speech.gave_up():
            # No voice in this run: the chime was the announcement; the log still says the words.
            self._phase = "words"
            self.started.emit(line.text)
            self._finish_line()
            return
        if not self._speech.usable():
            # The helper is starting or being replaced: its chime has played, the words wait.
            self._current, self._phase = None, "idle"
            self._defer(line)
            self._pump()
            return
        self._phase = "words"
        line.attempts += 1
        self._line_id = self._speech.speak({
            "text": line.text, "language": line.language, "voice": line.voice,
            "volume": line.volume, "rate": line.rate})

    def _defer(self, line: _Line) -> None:
        self._deferred.append(line)
        while len(self._deferred) > DEFERRED_MAX:
            dropped = self._deferred.pop(0)
            log.info("voice down too long: not saying %r", dropped.text[:80])
            self.finished.emit(dropped.text)

    def _stop_current(self) -> None:
        """End the line being chimed or said now, mid-word (only our own speech stops)."""
        if self._phase == "chime":
            self._chimes.stop()
        elif self._phase == "words":
            self._speech.stop_line()
        self._finish_line()

    def _began(self, ident: int) -> None:
        if ident == self._line_id and self._current is not None:
            self._phase = "words"
            self.started.emit(self._current.text)

    def _ended(self, ident: int, error: str) -> None:
        if ident != self._line_id or self._current is None:
            return
        if error:
            log.warning("speech failed: %s", error)
        self._finish_line()

    def _lost(self, ident: int, reason: str) -> None:
        """The helper died or hung during this line: said again when the voice is back (once)."""
        line = self._current
        if ident != self._line_id or line is None:
            return
        log.warning("speech cut short (%s)", reason)
        if line.attempts >= ATTEMPTS or self._closed:
            self._finish_line()
            return
        self._current, self._phase, self._line_id = None, "idle", -1
        self._defer(line)
        self._pump()

    def _finish_line(self) -> None:
        line, self._current, self._phase = self._current, None, "idle"
        self._line_id = -1  # a late "ended" for the old line is ignored
        if line is not None:
            self.finished.emit(line.text)
        self._tell_problem()
        self._pump()
