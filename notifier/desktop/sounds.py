"""The chimes played before announcements (resources/sounds/*.wav, made by
packaging/tools/make_chimes.py).

Why not QSoundEffect everywhere: with Qt 6.11/6.12 on PulseAudio (seen here), two QSoundEffect
instances that have played — or a burst of play/stop calls — make Qt's audio loop spin on an
invalid socket ("QSocketNotifier: Invalid socket") and memory grows by ~100 MB/s until the process
dies. A tray app that must run all day cannot take that risk, so each platform uses the plainest
player it has:
- Linux: libpulse-simple (part of libpulse0, which Qt already needs) through ctypes, one worker
  thread writing the PCM; no Qt audio objects at all.
- Windows: the standard library's winsound, asynchronous.
- elsewhere (macOS): one shared QSoundEffect (CoreAudio, not affected).
When the chime is over is decided from the file's own length (players report it late or never),
so the words follow it instead of talking over it.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import itertools
import logging
import queue
import sys
import threading
import wave
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl, Signal

from notifier.core.paths import resources_dir

log = logging.getLogger(__name__)

CHIMES = ("new_order", "reminder", "alert", "urgent")  # urgent: escalation.py
# Wait past a chime's length before the words start: the audio path's own latency.
SLACK_MS = 150


def chime_path(name: str) -> Path:
    return resources_dir() / "sounds" / f"{name}.wav"


def wav_length_ms(path: Path) -> int:
    """Length of a WAV file in ms (0 when unreadable)."""
    try:
        with wave.open(str(path), "rb") as sound:
            return int(sound.getnframes() * 1000 / max(1, sound.getframerate()))
    except (OSError, wave.Error, EOFError):
        return 0


class _PaSampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _PaBufferAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("maxlength", "tlength", "prebuf", "minreq", "fragsize")]


_PA_DEFAULT = 0xFFFFFFFF
# The server's default buffer is ~2 s and playback waits for it to fill: a 0.6 s chime would
# start late, after the words it should announce. 80 ms is plenty for a local sound server.
_TARGET_LATENCY_S = 0.08
_PA_STREAM_PLAYBACK = 1
_PA_SAMPLE_S16LE = 3


class _PulseSimplePlayer:
    """Plays 16-bit WAVs through libpulse-simple on one worker thread, one after another."""

    name = "PulseAudio"

    def __init__(self) -> None:
        path = ctypes.util.find_library("pulse-simple") or "libpulse-simple.so.0"
        self._lib = ctypes.CDLL(path)  # OSError when PulseAudio's client library is missing
        self._lib.pa_simple_new.restype = ctypes.c_void_p
        self._lib.pa_simple_new.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
            ctypes.POINTER(_PaSampleSpec), ctypes.c_void_p, ctypes.POINTER(_PaBufferAttr),
            ctypes.POINTER(ctypes.c_int),
        ]
        self._lib.pa_simple_write.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                              ctypes.POINTER(ctypes.c_int)]
        self._lib.pa_simple_drain.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        self._lib.pa_simple_free.argtypes = [ctypes.c_void_p]
        # Each chime's (rate, channels). Its samples are read from the file when it plays, on
        # the worker (~0.05 ms from the OS's cache): kept, the four chimes are 0.25 MB of the
        # idle app's memory all day.
        self._format: dict[str, tuple[int, int]] = {}
        # Each chime at the volume it last played at, when that is not full volume. Scaling the
        # samples is a Python loop over every one (~10-20 ms holding the interpreter, while
        # orders come in): once per volume.
        self._scaled: dict[str, tuple[float, bytes]] = {}
        self._jobs: queue.Queue[tuple[str, float, object]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.failed = ""

    def load(self, name: str) -> bool:
        if name in self._format:
            return True
        try:
            with wave.open(str(chime_path(name)), "rb") as sound:
                if sound.getsampwidth() != 2:
                    raise wave.Error("not 16-bit")
                self._format[name] = (sound.getframerate(), sound.getnchannels())
        except (OSError, wave.Error, EOFError) as exc:
            log.warning("chime %s unreadable: %s", name, exc)
            return False
        return True

    @staticmethod
    def _samples(name: str) -> bytes:
        with wave.open(str(chime_path(name)), "rb") as sound:
            return sound.readframes(sound.getnframes())

    def play(self, name: str, volume: float, finished) -> None:
        self._start()
        self.cancel()  # a chime is for now: one still waiting behind another is stale
        self._jobs.put((name, volume, finished))

    def prepare(self, name: str, volume: float) -> None:
        """Scale the chime to `volume` now, on the worker, before the first order needs it."""
        self._start()
        self._jobs.put((name, volume, None))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="chimes", daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        try:
            while True:
                self._jobs.get_nowait()
        except queue.Empty:
            pass

    def _run(self) -> None:
        while True:
            name, volume, finished = self._jobs.get()
            if finished is None:
                if volume < 0.999:  # full volume plays the file as it is
                    try:
                        self._at_volume(name, volume)
                    except (OSError, wave.Error, EOFError) as exc:
                        log.warning("chime %s unreadable: %s", name, exc)
                continue
            try:
                self._play_now(name, volume)
            except Exception:  # noqa: BLE001 - the worker must outlive any one chime
                log.exception("chime %s failed", name)
            try:
                finished()  # the sound is over (drained), or could not play
            except RuntimeError:
                pass  # whoever asked for it is gone (its Qt object was deleted)

    def _at_volume(self, name: str, volume: float) -> bytes:
        if volume >= 0.999:
            self._scaled.pop(name, None)
            return self._samples(name)
        cached = self._scaled.get(name)
        if cached is None or abs(cached[0] - volume) > 1e-6:
            pcm = self._samples(name)
            cached = self._scaled[name] = (
                volume, array.array("h", [int(v * volume) for v in array.array("h", pcm)]).tobytes())
        return cached[1]

    def _play_now(self, name: str, volume: float) -> None:
        rate, channels = self._format[name]
        try:
            pcm = self._at_volume(name, volume)
        except (OSError, wave.Error, EOFError) as exc:  # the file went away since it was checked
            log.warning("chime %s unreadable: %s", name, exc)
            return
        spec = _PaSampleSpec(_PA_SAMPLE_S16LE, rate, channels)
        attr = _PaBufferAttr(_PA_DEFAULT, int(rate * channels * 2 * _TARGET_LATENCY_S),
                             _PA_DEFAULT, _PA_DEFAULT, _PA_DEFAULT)
        error = ctypes.c_int(0)
        stream = self._lib.pa_simple_new(None, b"Order Notifier", _PA_STREAM_PLAYBACK, None,
                                         b"chime", ctypes.byref(spec), None, ctypes.byref(attr),
                                         ctypes.byref(error))
        if not stream:
            if not self.failed:
                log.warning("chimes cannot play: no PulseAudio server (error %d)", error.value)
            self.failed = f"PulseAudio error {error.value}"
            return
        try:
            buffer = ctypes.create_string_buffer(pcm, len(pcm))
            if self._lib.pa_simple_write(stream, buffer, len(pcm), ctypes.byref(error)) == 0:
                self._lib.pa_simple_drain(stream, ctypes.byref(error))
            self.failed = ""
        finally:
            self._lib.pa_simple_free(stream)


class _WinsoundPlayer:
    name = "winsound"

    def __init__(self) -> None:
        import winsound  # noqa: F401 - present on every Windows Python

        self.failed = ""

    def load(self, name: str) -> bool:
        return chime_path(name).is_file()

    def cancel(self) -> None:
        pass

    def prepare(self, name: str, volume: float) -> None:
        pass  # the system mixer or Qt scales the volume as it plays

    def play(self, name: str, volume: float, finished) -> None:
        import winsound

        # Windows has no per-sound volume here; the system mixer sets it.
        winsound.PlaySound(str(chime_path(name)),
                           winsound.SND_FILENAME | winsound.SND_ASYNC | winsound.SND_NODEFAULT)


class _QtSoundPlayer:
    """One QSoundEffect for the whole process, pointed at the chime to play."""

    name = "QSoundEffect"

    def __init__(self) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        self._effect = QSoundEffect()
        self.failed = ""

    def load(self, name: str) -> bool:
        url = QUrl.fromLocalFile(str(chime_path(name)))
        if self._effect.source() != url:
            self._effect.setSource(url)
        return True

    def play(self, name: str, volume: float, finished) -> None:
        self.load(name)
        self._effect.setVolume(volume)
        self._effect.play()

    def cancel(self) -> None:
        pass

    def prepare(self, name: str, volume: float) -> None:
        pass  # the system mixer or Qt scales the volume as it plays


_player = None


def _shared_player():
    """The process's one chime player for this platform (None when nothing can play)."""
    global _player
    if _player is None:
        candidates = {"linux": (_PulseSimplePlayer, _QtSoundPlayer),
                      "win32": (_WinsoundPlayer, _QtSoundPlayer)}.get(sys.platform, (_QtSoundPlayer,))
        for candidate in candidates:
            try:
                _player = candidate()
                log.info("chimes play through %s", candidate.name)
                break
            except Exception as exc:  # noqa: BLE001 - try the next way to make a sound
                log.info("chime player %s unavailable: %s", candidate.name, exc)
        else:
            log.warning("no way to play chimes on this system")
            _player = False
    return _player or None


class _DrainRelay(QObject):
    """Lives as long as the app: the chime worker says "chime `serial` is over" here."""

    drained = Signal(int)


_relay: _DrainRelay | None = None
_serials = itertools.count(1)  # one sequence for every player: a serial names one chime


def _drain_relay() -> _DrainRelay:
    global _relay
    if _relay is None:  # made with the first player, on the thread players live on (the main one)
        _relay = _DrainRelay()
    return _relay


class ChimePlayer(QObject):
    """Plays one chime at a time and says when it is done (or could not play)."""

    done = Signal(str)  # chime name

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._volume = 1.0
        self._current: str | None = None
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._finish)
        self._lengths: dict[str, int] = {}
        self._serial = 0
        _drain_relay().drained.connect(self._on_drained)

    def set_volume(self, volume: float) -> None:
        self._volume = min(1.0, max(0.0, float(volume)))

    def _ready(self, name: str):
        player = _shared_player()
        if player is None:
            return None
        if name not in self._lengths:
            self._lengths[name] = wav_length_ms(chime_path(name))
            if not self._lengths[name]:
                log.warning("chime %s missing or unreadable at %s", name, chime_path(name))
        if not self._lengths[name] or not player.load(name):
            return None
        return player

    def preload(self) -> None:
        """Check every chime now (and scale it to the volume set, when that is not full), off the
        path of the first order."""
        for name in CHIMES:
            player = self._ready(name)
            if player is not None:
                player.prepare(name, self._volume)

    def loaded(self) -> bool:
        return _shared_player() is not None and all(n in self._lengths for n in CHIMES)

    def play(self, name: str) -> bool:
        """Start a chime; False (and no `done`) if it cannot play, so the caller just goes on."""
        self.stop()
        player = self._ready(name)
        if player is None or player.failed:
            return False
        self._current = name
        serial = self._serial = next(_serials)
        relay = _drain_relay()
        # The worker tells the relay, never this object: a player deleted while its chime plays
        # (a closed settings dialog's test voice) would otherwise be sent a signal after its
        # C++ object is gone, which crashed the app now and then. Qt drops the relay's
        # connection to a deleted player by itself.
        player.play(name, self._volume, lambda: relay.drained.emit(serial))
        # Players that say when the sound is over (PulseAudio) end it then; for the others the
        # file's length decides, and it is the backstop should a player never answer.
        backstop = 2000 if isinstance(player, _PulseSimplePlayer) else SLACK_MS
        self._timer.start(self._lengths[name] + backstop)
        return True

    def _on_drained(self, serial: int) -> None:
        if serial == self._serial:
            self._finish()

    def stop(self) -> None:
        if self._current is not None and _player:
            _player.cancel()
        self._current = None
        self._timer.stop()

    def _finish(self) -> None:
        name, self._current = self._current, None
        if name is not None:
            self.done.emit(name)
