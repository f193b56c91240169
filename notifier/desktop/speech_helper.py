"""The speech helper process: the only process that calls into a speech library.

speech-dispatcher's client library can block for good while holding Python's interpreter lock
(seen when speech-dispatcher cannot open audio): in the app's process that froze every thread,
signals included. So speech runs here, in a child started from the same executable with a hidden
subcommand (`notifier speech-helper`), and the app (desktop/speech_supervisor.py) kills and
replaces it when it stops answering.

Protocol: JSON lines. Requests on stdin:
  {"op": "speak", "id": N, "text": ..., "language": "zh_CN"|"en", "voice": name|"",
   "volume": 0..1, "rate": -1..1}
  {"op": "stop"}
  {"op": "list-voices", "id": N, "language": ...}
  {"op": "status", "id": N, "language": ..., "voice": ...}
  {"op": "ping", "id": N}   (the app checks an idle helper still answers)
Replies on stdout:
  {"event": "ready", "engine": name, "engines": [...], "error": "", "audio": "", "spawned": [...]}
  {"event": "started", "id": N}   {"event": "finished", "id": N}
  {"event": "failed", "id": N, "reason": ...}
  {"event": "voices", "id": N, "names": [...]}
  {"event": "status", "id": N, "engine": ..., "voice": picked name or "", "error": ...}
  {"event": "pong", "id": N}
stdin's end (the app is gone) ends the helper; on Linux the kernel also kills it when the app
dies (PR_SET_PDEATHSIG), even if the app was killed with SIGKILL.

Only QtCore and QtTextToSpeech are loaded here (no widgets, no GUI), to keep the helper small.
With speech-dispatcher the words go through a connection of the helper's own
(desktop/speechd_client.py), so "stop" cancels only our line, never another program's speech,
and the voices are listed through it too: Qt's engine took 1.3 s of CPU to list them at each
start (libspeechd), which a busy PC stretched past the app's 12 s wait for a new helper. Qt's
speechd engine is opened only when that listing fails.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import sys
import threading
import time
from typing import Any

SUBCOMMAND = "speech-helper"
PARENT_ENV = "NOTIFIER_SPEECH_PARENT"
PLATFORM_ENGINES = {"win32": ("winrt", "sapi"), "darwin": ("darwin",)}
LINUX_ENGINES = ("speechd",)
# The engine's own volume is capped: espeak-ng through speech-dispatcher clips from Qt's volume
# 0.5 up (speechd volume 0 and more; measured on the null sink: peak 1.0 at 0.5, 0.89 at 0.4,
# 0.68 at 0.3). At 0.35 the loudest setting peaks near -2 dBFS (RMS ~0.08).
ENGINE_VOLUME_CAP = {"speechd": 0.35}

# Voice names that mean the language, for engines that do not list voices per locale
# (speechd + espeak-ng: zh_CN is not a locale there, every voice sits under "C").
NAME_HINTS = {"zh_CN": ("mandarin", "chinese", "中文", "普通话", "huihui", "yaoyao", "kangkang",
                        "xiaoxiao", "tingting"),
              "en": ("english",)}
# espeak-ng's "Mandarin, latin as English" voice reads characters it lacks as English-spelled
# pinyin ("jin one e two" for 金额: seen with `espeak-ng -x`); the Pinyin one reads them right.
PREFERRED = {"zh_CN": ("latin as pinyin", "mandarin"), "en": ("america", "great britain")}
LOCALES = {"zh_CN": ("zh_CN", "zh_SG", "zh_TW"), "en": ("en_US", "en_GB", "en_AU", "en_CA")}
# speech-dispatcher's language tags (BCP 47, any case) for our languages: Mandarin, not
# Cantonese ("yue", "zh-yue") or Hakka ("hak").
LANGUAGE_TAGS = {"zh_CN": ("cmn", "zh", "zh-cn", "zh-sg", "zh-hans", "zh-hans-cn"), "en": ("en",)}


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


def rank(name: str, language: str) -> tuple:
    lower = name.lower()
    preferred = PREFERRED.get(language, ())
    score = next((i for i, hint in enumerate(preferred) if hint in lower), len(preferred))
    return ("+" in name, score, name)  # espeak variants ("...+Adam") after the plain voice


def speaks(tag: str, language: str) -> bool:
    """Whether a voice listed with this language tag speaks our language (zh_CN or en)."""
    tag = tag.lower()
    wanted = LANGUAGE_TAGS.get(language, ())
    if language == "en":
        return tag == "en" or tag.startswith("en-")
    return tag in wanted or tag.startswith("cmn-")


class ListedVoice:
    """A voice as speech-dispatcher lists it; `name()` as a QVoice has it."""

    __slots__ = ("_name", "language", "module")

    def __init__(self, name: str, language: str, module: str) -> None:
        self._name, self.language, self.module = name, language, module

    def name(self) -> str:
        return self._name


def engine_volume(volume: float, engine: str) -> float:
    """The engine volume for the owner's setting (0..1), capped so speech never clips."""
    return min(1.0, max(0.0, float(volume))) * ENGINE_VOLUME_CAP.get(engine, 1.0)


# -- Linux housekeeping ---------------------------------------------------------------------

def die_with_parent() -> None:
    """Linux: have the kernel kill this process when the app that started it dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit() and os.getppid() != int(parent):
        os._exit(0)  # the app died before prctl took effect


def speechd_processes() -> dict[int, str]:
    """pid -> command line of this user's speech-dispatcher daemons (Linux; {} elsewhere)."""
    found: dict[int, str] = {}
    if not os.path.isdir("/proc"):
        return found
    uid = os.getuid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"speech-dispatcher":
            found[int(entry)] = b" ".join(argv).decode(errors="replace")
    return found


def audio_problem() -> str:
    """Why no sound server can be opened from here ("" when one can, or when we cannot tell).

    speech-dispatcher plays through the same user's PulseAudio, so a refused connection here is
    the likely reason it cannot open audio either.
    """
    if not sys.platform.startswith("linux"):
        return ""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("pulse-simple") or "libpulse-simple.so.0")
    except OSError:
        return ""

    class Spec(ctypes.Structure):
        _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]

    lib.pa_simple_new.restype = ctypes.c_void_p
    lib.pa_simple_new.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                  ctypes.c_char_p, ctypes.POINTER(Spec), ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    lib.pa_simple_free.argtypes = [ctypes.c_void_p]
    error = ctypes.c_int(0)
    spec = Spec(3, 22050, 1)  # s16le mono
    stream = lib.pa_simple_new(None, b"Order Notifier", 1, None, b"probe", ctypes.byref(spec),
                               None, None, ctypes.byref(error))
    if not stream:
        return f"no sound server (PulseAudio error {error.value})"
    lib.pa_simple_free(stream)
    return ""


# -- the engine -----------------------------------------------------------------------------

class Helper:
    """Owns the QTextToSpeech object and answers the app's requests, in this process's main
    thread (a reader thread only passes lines in)."""

    def __init__(self, out) -> None:
        self.out = out
        self.tts = None
        self.name = ""
        self.error = ""
        self._picked: dict[tuple[str, str], Any] = {}
        self._current = -1
        self._speaking = False
        self._write_lock = threading.Lock()
        # speech-dispatcher: our own SSIP connection speaks (see the module docstring); its
        # events come on its reader thread, hence the lock around what they share with handle().
        self.speechd = None
        self._speechd_wanted = False
        self._listed: list[ListedVoice] | None = None  # speech-dispatcher's voices, listed by us
        self._messages: dict[int, tuple[int, bool]] = {}  # message id -> (line id, begun)
        self._messages_lock = threading.Lock()

    def send(self, **message: Any) -> None:
        data = json.dumps(message, ensure_ascii=False) + "\n"
        with self._write_lock:
            try:
                self.out.write(data)
                self.out.flush()
            except (OSError, ValueError):
                os._exit(0)  # the app closed our stdout: it is gone

    def open(self, wanted: str) -> None:
        before = speechd_processes()
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except ImportError as exc:  # e.g. libpulse missing on Linux
            self.error = f"the Qt speech module could not be loaded ({exc})"
            self.send(event="ready", engine="", engines=[], error=self.error, audio="", spawned=[])
            return
        env = os.environ.get("NOTIFIER_TTS_ENGINE", "").strip() or None
        available = list(QTextToSpeech.availableEngines())
        engines = [n for n in available if n != "mock" or env == "mock"]
        name = choose_engine(wanted, available, env)
        if name is None:
            self.error = "no speech engine"
            self.send(event="ready", engine="", engines=engines, error=self.error, audio="",
                      spawned=[])
            return
        self.name = name
        if name == "speechd":
            self._listed = self._list_speechd_voices()
        if self._listed is None:
            self._open_qt_engine()
        # Speaking connected at the first line, not here: a speech-dispatcher that cannot open
        # audio does not answer its speaking clients, and "ready" (with the audio problem) must
        # reach the app first.
        self._speechd_wanted = name == "speechd" and not self.error
        spawned = [pid for pid, argv in speechd_processes().items()
                   if pid not in before and "--spawn" in argv]
        self.send(event="ready", engine=name, engines=engines, error=self.error,
                  audio=audio_problem() if name == "speechd" else "", spawned=spawned)

    def _list_speechd_voices(self) -> list[ListedVoice] | None:
        """speech-dispatcher's voices through a connection of our own (closed after), or None
        when that does not work (Qt's engine is then asked)."""
        from notifier.desktop.speechd_client import SpeechdClient, SpeechdError

        try:
            client = SpeechdClient(lambda kind, message: None)
        except SpeechdError as exc:
            print(f"speech helper: {exc}; asking Qt's engine for the voices", file=sys.stderr)
            return None
        try:
            voices = [ListedVoice(*row) for row in client.list_voices()]
        except SpeechdError as exc:
            print(f"speech helper: listing the voices failed ({exc}); asking Qt's engine",
                  file=sys.stderr)
            return None
        finally:
            client.close()
        return voices or None

    def _open_qt_engine(self) -> None:
        from PySide6.QtCore import QCoreApplication, QLocale
        from PySide6.QtTextToSpeech import QTextToSpeech

        self.tts = QTextToSpeech(self.name)
        self.tts.stateChanged.connect(self._state_changed)
        states = QTextToSpeech.State
        deadline = time.monotonic() + 20
        while self.tts.state() not in (states.Ready, states.Error) and time.monotonic() < deadline:
            QCoreApplication.processEvents()  # winrt initialises asynchronously
            time.sleep(0.01)
        if self.tts.state() == states.Error:
            # speechd reports an error at start when the system locale is one it does not list
            # (zh_CN: its Mandarin voices sit under "C"), yet speaks fine with a voice picked by
            # name. Only an engine without voices is broken.
            error = self.tts.errorString() or "error"
            self.tts.setLocale(QLocale.c())
            if not self.tts.availableVoices():
                self.error = error

    def _connect_speechd(self) -> None:
        """Our own connection to speech-dispatcher, made once; SpeechdError when it does not
        answer (the line fails, the next one tries again)."""
        if self.speechd is not None or not self._speechd_wanted:
            return
        from notifier.desktop.speechd_client import SpeechdClient, SpeechdUnreachable

        try:
            self.speechd = SpeechdClient(self._speechd_event)
        except SpeechdUnreachable as exc:  # Qt's engine speaks then (its stop cancels everyone's)
            self._speechd_wanted = False
            print(f"speech helper: {exc}; speaking through Qt's engine", file=sys.stderr)

    def _speechd_event(self, kind: str, message: int) -> None:
        with self._messages_lock:
            line = self._messages.get(message)
            if line is None:
                return
            ident, begun = line
            if kind == "begin":
                self._messages[message] = (ident, True)
            else:
                del self._messages[message]
        if kind == "begin" and not begun:
            self.send(event="started", id=ident)
        elif kind != "begin":  # ended, or cancelled (by our stop, or another program)
            self.send(event="finished", id=ident)

    def _drop_speechd(self, reason: str) -> None:
        """Hang up a connection that is lost or out of step; the lines it was saying are over
        (their events would never come), and the next command opens a new connection."""
        client, self.speechd = self.speechd, None
        if client is not None:
            client.close()
        for ident, _ in self._messages.values():
            self.send(event="failed", id=ident, reason=reason)
        self._messages.clear()

    def _speak_speechd(self, ident: int, request: dict[str, Any], choice) -> None:
        from notifier.desktop.speechd_client import SpeechdError, SpeechdLost

        language = str(request.get("language", "zh_CN"))
        # Held while the message id comes back: its "begin" may follow the reply at once.
        with self._messages_lock:
            for attempt in (1, 2):
                try:
                    self._connect_speechd()
                    if self.speechd is None:
                        break
                    message = self.speechd.speak(
                        str(request.get("text", "")),
                        voice=choice.name() if choice is not None else "",
                        module=getattr(choice, "module", ""),
                        language="zh" if language.startswith("zh") else "en",
                        volume=engine_volume(request.get("volume", 1.0), self.name),
                        rate=float(request.get("rate", 0.0)))
                    self._messages[message] = (ident, False)
                    return
                except SpeechdLost as exc:
                    # Once more on a new connection: a moment's stall must not cost the words.
                    self._drop_speechd(str(exc))
                    if attempt == 2:
                        self.send(event="failed", id=ident, reason=str(exc))
                        return
                except SpeechdError as exc:
                    self.send(event="failed", id=ident, reason=str(exc))
                    return
        self._speak_qt(ident, request, choice)  # nothing listens there: Qt's engine says it

    def _speak_qt(self, ident: int, request: dict[str, Any], choice) -> None:
        if self.tts is None:
            self._open_qt_engine()
        if self.error:
            self.send(event="failed", id=ident, reason=self.error)
            return
        if isinstance(choice, ListedVoice):  # listed by us: Qt's own voice of that name
            choice = next((v for v in self._all_qt_voices() if v.name() == choice.name()), None)
        if choice is not None and self.tts.voice() != choice:
            self.tts.setVoice(choice)
        self.tts.setVolume(engine_volume(request.get("volume", 1.0), self.name))
        self.tts.setRate(min(1.0, max(-1.0, float(request.get("rate", 0.0)))))
        self._current, self._speaking = ident, False
        self.tts.say(str(request.get("text", "")))

    def stop_speaking(self) -> None:
        """Cut our own line short (only ours: see the module docstring)."""
        self._current, self._speaking = -1, False
        if self.speechd is not None:
            from notifier.desktop.speechd_client import SpeechdError

            try:
                self.speechd.cancel()
            except SpeechdError as exc:
                print(f"speech helper: could not stop the line: {exc}", file=sys.stderr)
                if not self.speechd.usable:
                    with self._messages_lock:
                        self._drop_speechd(str(exc))
        elif self.tts is not None:
            self.tts.stop()

    def _state_changed(self, state) -> None:
        if self._current < 0 or self.tts is None:
            return
        states = type(self.tts).State
        if state in (states.Speaking, states.Synthesizing):
            if not self._speaking:
                self._speaking = True
                self.send(event="started", id=self._current)
        elif state in (states.Ready, states.Error):
            current, self._current, self._speaking = self._current, -1, False
            if state == states.Error:
                self.send(event="failed", id=current, reason=self.tts.errorString() or "error")
            else:
                self.send(event="finished", id=current)

    def _all_qt_voices(self) -> list:
        from PySide6.QtCore import QLocale

        self.tts.setLocale(QLocale.c())
        return list(self.tts.availableVoices())

    def _voices_for(self, language: str) -> list:
        from PySide6.QtCore import QLocale

        if self._listed is not None:
            listed = [v for v in self._listed if speaks(v.language, language)]
            if listed:
                return listed
            hints = NAME_HINTS.get(language, ())
            return [v for v in self._listed if any(h in v.name().lower() for h in hints)]
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

    def pick(self, language: str, wanted: str):
        key = (language, wanted)
        if key in self._picked:
            return self._picked[key]
        voices = sorted(self._voices_for(language), key=lambda v: rank(v.name(), language))
        choice = None
        if wanted:
            choice = next((v for v in voices if v.name() == wanted), None)
            if choice is None:  # a voice of another language the owner chose on purpose
                every = self._listed if self._listed is not None else self._all_qt_voices()
                choice = next((v for v in every if v.name() == wanted), None)
        if choice is None and voices:
            choice = voices[0]
        self._picked[key] = choice
        return choice

    def handle(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        ident = request.get("id", -1)
        if op == "speak":
            if not self.name or self.error:
                self.send(event="failed", id=ident, reason=self.error or "no engine")
                return
            choice = self.pick(request.get("language", "zh_CN"), request.get("voice", ""))
            if self._speechd_wanted:
                self._speak_speechd(ident, request, choice)
                return
            self._speak_qt(ident, request, choice)
        elif op == "stop":
            self.stop_speaking()
        elif op == "list-voices":
            language = request.get("language", "zh_CN")
            names = [] if not self.name or self.error else [v.name() for v in sorted(
                self._voices_for(language), key=lambda v: rank(v.name(), language))]
            self.send(event="voices", id=ident, names=names)
        elif op == "ping":
            self.send(event="pong", id=ident)
        elif op == "status":
            voice = ""
            if self.name and not self.error:
                choice = self.pick(request.get("language", "zh_CN"), request.get("voice", ""))
                voice = choice.name() if choice is not None else ""
            self.send(event="status", id=ident, engine=self.name, voice=voice, error=self.error)


def run_helper(wanted_engine: str | None = None) -> int:
    """Entry point of the hidden `speech-helper` subcommand."""
    if wanted_engine is None:
        wanted_engine = os.environ.get("NOTIFIER_TTS_WANTED", "")
    from notifier.core.malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()  # before the request reader's thread and the engine's own
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal is the app's to handle
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    stdout = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the protocol channel
    helper = Helper(stdout)

    class Inbox(QObject):
        line = Signal(str)

    inbox = Inbox()

    def dispatch(text: str) -> None:
        if not text:
            app.quit()
            return
        try:
            request = json.loads(text)
        except ValueError:
            return
        if isinstance(request, dict):
            helper.handle(request)

    inbox.line.connect(dispatch)  # queued: emitted from the reader thread

    def read() -> None:
        for raw in sys.stdin:
            if raw.strip():
                inbox.line.emit(raw.strip())
        inbox.line.emit("")  # end of input: the app is gone or wants us gone
        time.sleep(2)
        os._exit(0)  # in case the main thread is stuck inside the engine

    threading.Thread(target=read, name="speech-requests", daemon=True).start()
    helper.open(wanted_engine)
    code = app.exec()
    if helper.speechd is not None:
        helper.stop_speaking()  # our own line, cut short because the app is gone
    elif helper.tts is not None and helper._current >= 0:
        helper.tts.stop()  # Qt's engine: this silences other programs too (nothing better there)
    # Out without destroying the engine: Qt's speechd engine cancels every client's speech
    # (spd_cancel_all) when it is destroyed mid-line, which cut a running app's line short.
    sys.stderr.flush()
    os._exit(code)
