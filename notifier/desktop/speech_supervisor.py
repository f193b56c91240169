"""The app's side of the speech helper: starts it, talks to it, and replaces it when it fails.

The helper (desktop/speech_helper.py) is a child process from the same executable. Everything
here runs on the Qt main thread without ever blocking it: QProcess reads the helper's replies
through the event loop and writes requests without waiting. A helper that does not finish a line
by its deadline (derived from the line's length), does not start in time, stops (SIGSTOP),
crashes or exits is killed and replaced: at once the first time (a helper that ran well for a
while counts as a first time again), after a growing pause when it keeps failing. The line it was
saying is handed back (`lost`): the announcer says it again once the voice is back.

Before the first line, and after every restart, a new helper speaks a short silent probe (or the
line already waiting for it): only a helper that got through one whole line is trusted again
(speech-dispatcher without audio accepts a line and then never finishes it); the probe also pays
speech-dispatcher's first-line cost (1.7 s here) before an order needs it. While speech is down
the announcer plays chimes only.

A speech-dispatcher that the helper's library started ("autospawn") is the app's to stop: the
helper lists speech-dispatcher daemons of this user before and after opening its engine, and a new
one started with `--spawn` (how libspeechd autospawns) is ours. At shutdown it is stopped (TERM,
then KILL: one that cannot open audio ignores TERM), after checking its start time so a reused
pid is never hit. A daemon that was already running, or that the desktop started, is left alone.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from notifier.desktop.speech_helper import PARENT_ENV, SUBCOMMAND

log = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 15_000
# A line's deadline: espeak-ng's Mandarin needs ~0.27 s per character at normal speed.
LINE_BASE_MS = 3_000
LINE_PER_CHAR_MS = 400
LINE_MAX_MS = 120_000
PROBE_TEXT = "1"
# A just-started speech-dispatcher loads its voice module before the probe is said: that took
# over 8 s on a busy 2-core PC.
PROBE_DEADLINE_MS = 12_000
FIRST_LINE_EXTRA_MS = 3_000  # a new helper's first line also opens speech-dispatcher's audio
# Pauses before starting a new helper after the 1st, 2nd, ... failure in a row: the first is
# replaced at once (an order may be waiting for its words); a helper that keeps dying must not
# take the machine's CPU with it.
RESTART_BACKOFF_MS = (0, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000)
# A helper that was ready this long before it failed had been working: its failure is a first one.
HEALTHY_MS = 30_000
STOP_GRACE_MS = 300
# An idle helper is asked how it is now and then, so one that hangs (or is stopped) between
# orders is replaced before the next order needs it, not after that order's deadline.
HEARTBEAT_MS = 30_000
HEARTBEAT_DEADLINE_MS = 5_000


def helper_command() -> list[str]:
    """How to start the helper: the frozen executable takes the subcommand directly."""
    if getattr(sys, "frozen", False):
        return [sys.executable, SUBCOMMAND]
    return [sys.executable, "-m", "notifier", SUBCOMMAND]


def line_deadline_ms(text: str, rate: float = 0.0) -> int:
    slowness = 1.0 + max(0.0, -rate)  # rate -1 is about half speed
    return min(LINE_MAX_MS, int((LINE_BASE_MS + LINE_PER_CHAR_MS * len(text)) * slowness))


@dataclass(frozen=True, slots=True)
class Outage:
    """Why speech is down: a code the announcer words in the owner's language, plus details."""

    code: str  # no-audio | timeout | open-timeout | exited | engine | no-engine
    detail: str = ""
    seconds: int = 0


@dataclass(slots=True)
class _Line:
    ident: int
    request: dict[str, Any]
    deadline_ms: int


@dataclass(slots=True)
class _Spawned:
    pid: int
    start_time: str = field(default="")


def _proc_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


class SpeechSupervisor(QObject):
    """One helper process at a time, watched; lines go in, "started"/"ended" come out."""

    ready_changed = Signal()  # the helper became usable, or speech went down (see outage())
    started = Signal(int)  # a line's words begin
    ended = Signal(int, str)  # a line is over: "" when spoken, else why the engine failed it
    lost = Signal(int, str)  # a line cut short because its helper failed (why): worth saying again
    replied = Signal(dict)  # a reply to request() (voices, status)

    def __init__(self, parent: QObject | None = None, *, open_timeout_ms: int = OPEN_TIMEOUT_MS):
        super().__init__(parent)
        self.engine_wanted = ""
        self.open_timeout_ms = open_timeout_ms
        self.state = "off"  # off | starting | probing | ready | down
        self.info: dict[str, Any] = {}  # the helper's "ready" message
        self._outage: Outage | None = None
        self._permanent = False
        self._proc: QProcess | None = None
        self._buffer = bytearray()
        self._line: _Line | None = None
        self._serial = 0
        self._failures = 0
        self._ready_since: float | None = None  # monotonic seconds; None while not ready
        self._downs = 0  # how often speech went down (wait_settled returns at the next one)
        self._spawned: list[_Spawned] = []
        self._deadline = QTimer(self, singleShot=True)
        self._deadline.timeout.connect(self._missed_deadline)
        self._restart = QTimer(self, singleShot=True)
        self._restart.timeout.connect(self.start)
        self._probe_id = 0
        self._proven = False  # this helper has finished a line
        self._heartbeat_id = 0
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._check_idle_helper)
        self._heartbeat_deadline = QTimer(self, singleShot=True)
        self._heartbeat_deadline.timeout.connect(
            lambda: self._fail(Outage("timeout", seconds=HEARTBEAT_DEADLINE_MS // 1000)))
        _SUPERVISORS.add(self)
        _hook_quit()

    # -- public ----------------------------------------------------------------------------

    def outage(self) -> Outage | None:
        return self._outage

    def usable(self) -> bool:
        return self.state == "ready"

    def gave_up(self) -> bool:
        """Speech is down for good in this run (no engine, the helper cannot be started)."""
        return self._permanent

    def settled(self) -> bool:
        """Ready, or known to be down (not still starting)."""
        return self.state in ("ready", "down")

    def pid(self) -> int:
        return int(self._proc.processId()) if self._proc is not None else 0

    def allow_restart(self) -> None:
        """Start afresh after shutdown(), forgetting past failures (another engine was chosen)."""
        self._permanent = False
        self._outage = None
        self._failures = 0

    def start(self) -> None:
        """Start the helper if none runs (idempotent)."""
        if self._proc is not None or self._permanent:
            return
        self._restart.stop()
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert(PARENT_ENV, str(os.getpid()))
        if self.engine_wanted:
            env.insert("NOTIFIER_TTS_WANTED", self.engine_wanted)
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        # The lambdas outlive nothing: a supervisor deleted with its helper still running gets
        # the process's last signals while Qt tears its children down, and must ignore them.
        proc.readyReadStandardOutput.connect(lambda p=proc: self._alive() and self._read(p))
        proc.finished.connect(lambda code, status, p=proc: self._alive() and self._exited(p, code, status))
        proc.errorOccurred.connect(lambda error, p=proc: self._alive() and self._error(p, error))
        command = helper_command()
        self._proc = proc
        self._proven = False
        self._buffer.clear()
        self.state = "starting"
        self._deadline.start(self.open_timeout_ms)
        proc.start(command[0], command[1:])
        log.info("speech helper starting (%s)", " ".join(command[1:]))

    def speak(self, request: dict[str, Any]) -> int:
        """Send a line (text, language, voice, volume, rate); returns its id for started/ended."""
        self._serial += 1
        text = str(request.get("text", ""))
        self._line = _Line(self._serial, dict(request),
                           line_deadline_ms(text, float(request.get("rate", 0.0))))
        if self.state == "ready":
            self._send_line()
        else:
            self.start()
        return self._serial

    def stop_line(self) -> None:
        """Forget the line being spoken (its ended signal never comes)."""
        if self._line is not None and self.state == "ready":
            self._deadline.stop()
            self._send({"op": "stop"})
        self._line = None

    def request(self, op: str, **fields: Any) -> int:
        """A question for the helper (list-voices, status); the answer comes through replied."""
        self._serial += 1
        self._send({"op": op, "id": self._serial, **fields})
        return self._serial

    def ask(self, op: str, timeout_s: float, **fields: Any) -> dict[str, Any] | None:
        """request() and wait for its answer, keeping the event loop turning (on demand only)."""
        if not self.wait_settled(timeout_s) or self.state != "ready":
            return None
        answers: list[dict] = []
        ident = self.request(op, **fields)
        slot = self.replied.connect(lambda reply: answers.append(reply) if reply.get("id") == ident else None)
        try:
            self._wait(lambda: bool(answers) or self.state != "ready", timeout_s)
        finally:
            self.replied.disconnect(slot)
        return answers[0] if answers else None

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until the helper is ready, or has failed (its replacement may be starting
        already: the first helper is replaced at once)."""
        self.start()
        downs = self._downs
        return self._wait(lambda: self.settled() or self._downs > downs, timeout_s)

    def _alive(self) -> bool:
        return shiboken6.isValid(self)

    def shutdown(self) -> None:
        """Stop the helper (stdin closed, then killed) and a speech-dispatcher it spawned."""
        self._deadline.stop()
        self._restart.stop()
        self._heartbeat.stop()
        self._heartbeat_deadline.stop()
        self._line = None
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.blockSignals(True)
            proc.closeWriteChannel()
            if not proc.waitForFinished(STOP_GRACE_MS):
                proc.kill()
                proc.waitForFinished(1000)
            proc.deleteLater()
        self.state = "off"  # outage() still tells why speech was down
        self._ready_since = None
        self._stop_spawned()

    # -- the process -----------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._proc is not None and self._proc.state() == QProcess.ProcessState.Running:
            self._proc.write((json.dumps(message, ensure_ascii=False) + "\n").encode())

    def _send_line(self) -> None:
        line = self._line
        self._deadline.start(line.deadline_ms + (0 if self._proven else FIRST_LINE_EXTRA_MS))
        self._send({"op": "speak", "id": line.ident, **line.request})

    def _read(self, proc: QProcess) -> None:
        if proc is not self._proc:
            return
        self._buffer += bytes(proc.readAllStandardOutput().data())
        while b"\n" in self._buffer:
            raw, _, rest = bytes(self._buffer).partition(b"\n")
            self._buffer = bytearray(rest)
            try:
                message = json.loads(raw.decode(errors="replace"))
            except ValueError:
                continue
            if isinstance(message, dict):
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        ident = message.get("id")
        if event == "ready":
            self.info = message
            self._remember_spawned(message.get("spawned") or [])
            error = message.get("error") or ""
            if error:
                self._permanent = True  # no engine / no Qt speech module: restarting won't help
                code = "no-engine" if not message.get("engine") else "engine"
                self._go_down(Outage(code, error), restart=False)
                return
            self._heartbeat.start()
            if self._line is not None:
                # A line is waiting (an order came while the helper started, or a retry): it is
                # the probe itself, so its words are not held up by a silent one.
                self._now_ready()
                log.info("speech helper ready (engine %s); its first line is waiting", message.get("engine"))
                self._send_line()
                self.ready_changed.emit()
                return
            self.state = "probing"
            self._probe_id = self._serial = self._serial + 1
            self._deadline.start(PROBE_DEADLINE_MS)
            self._send({"op": "speak", "id": self._probe_id, "text": PROBE_TEXT, "volume": 0.0,
                        "language": "en", "voice": "", "rate": 0.0})
        elif event in ("finished", "failed") and ident == self._probe_id and self.state == "probing":
            self._deadline.stop()
            if event == "failed":
                self._fail(Outage("engine", message.get("reason", "")))
                return
            self._now_ready()
            self._proven = True
            self._heartbeat.start()
            was_down, self._outage = self._outage is not None, None
            log.info("speech helper ready (engine %s)%s", self.info.get("engine"),
                     "; voice is back" if was_down else "")
            if self._line is not None:
                self._send_line()
            self.ready_changed.emit()
        elif event == "started" and self._line is not None and ident == self._line.ident:
            self.started.emit(ident)
        elif event in ("finished", "failed") and self._line is not None and ident == self._line.ident:
            self._deadline.stop()
            self._line = None
            self._failures = 0
            self._proven = True
            reason = "" if event == "finished" else (message.get("reason") or "error")
            back = event == "finished" and self._outage is not None
            if back:
                self._outage = None
                log.info("speech helper ready (engine %s); voice is back", self.info.get("engine"))
            self.ended.emit(ident, reason)
            if back:
                self.ready_changed.emit()
        elif event == "pong" and ident == self._heartbeat_id:
            self._heartbeat_deadline.stop()
        elif event in ("voices", "status"):
            self.replied.emit(message)

    def _now_ready(self) -> None:
        self.state = "ready"
        self._ready_since = time.monotonic()

    def _check_idle_helper(self) -> None:
        if self.state == "ready" and self._line is None and not self._heartbeat_deadline.isActive():
            self._heartbeat_id = self.request("ping")
            self._heartbeat_deadline.start(HEARTBEAT_DEADLINE_MS)

    def _missed_deadline(self) -> None:
        if self.state == "starting":
            self._fail(Outage("open-timeout", seconds=self.open_timeout_ms // 1000))
        elif self.state == "probing":
            self._fail(self._hang_outage(PROBE_DEADLINE_MS))
        elif self._line is not None:
            self._fail(self._hang_outage(self._line.deadline_ms))

    def _hang_outage(self, deadline_ms: int) -> Outage:
        audio = self.info.get("audio") or ""
        if audio and self.info.get("engine") == "speechd":
            return Outage("no-audio", audio)
        return Outage("timeout", seconds=max(1, round(deadline_ms / 1000)))

    def _exited(self, proc: QProcess, code: int, status) -> None:
        if proc is self._proc:
            # For the log only: the owner is told that the helper stopped, not a number.
            crashed = status == QProcess.ExitStatus.CrashExit
            self._fail(Outage("exited", f"signal {code}" if crashed else f"exit code {code}"))

    def _error(self, proc: QProcess, error) -> None:
        if proc is self._proc and error == QProcess.ProcessError.FailedToStart:
            self._permanent = True
            self._fail(Outage("exited", proc.errorString()))

    def _fail(self, outage: Outage) -> None:
        """The helper is no good: kill it, hand its line back, replace it (see RESTART_BACKOFF_MS)."""
        if self._ready_since is not None and (time.monotonic() - self._ready_since) * 1000 >= HEALTHY_MS:
            self._failures = 0  # it had been working: this is a first failure, not a crash loop
        self._ready_since = None
        self._deadline.stop()
        self._heartbeat.stop()
        self._heartbeat_deadline.stop()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.blockSignals(True)
            proc.kill()  # works on a stopped (SIGSTOP) process too
            proc.waitForFinished(500)
            proc.deleteLater()
        log.warning("speech helper failed (%s %s); restarting it", outage.code,
                    outage.detail or outage.seconds or "")
        line, self._line = self._line, None
        self._go_down(outage, restart=not self._permanent)
        if line is not None:  # after going down: the announcer decides whether it is said again
            self.lost.emit(line.ident, self._reason_text(outage))

    def _go_down(self, outage: Outage, *, restart: bool) -> None:
        self._deadline.stop()
        self._ready_since = None
        if self._outage is not None and outage.code != "no-audio" and not self._permanent:
            # Still the same outage (no helper has worked since): its first reason is kept — a
            # replacement that then hangs while opening is a consequence, not news for the owner.
            outage = self._outage
        changed = self._outage != outage or self.state != "down"
        self._downs += 1
        self._outage = outage
        self.state = "down"
        if self._permanent and self._line is not None:
            line, self._line = self._line, None
            self.ended.emit(line.ident, self._reason_text(outage))
        if restart:
            delay = RESTART_BACKOFF_MS[min(self._failures, len(RESTART_BACKOFF_MS) - 1)]
            self._failures += 1
            self._restart.start(delay)
        if changed:
            self.ready_changed.emit()

    @staticmethod
    def _reason_text(outage: Outage) -> str:
        return f"{outage.code}: {outage.detail or outage.seconds}"

    def _wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        from PySide6.QtCore import QEventLoop

        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline:
                return False
            if self._proc is not None:
                self._proc.waitForReadyRead(20)
            else:
                time.sleep(0.02)
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        return True

    # -- a speech-dispatcher we started -----------------------------------------------------

    def _remember_spawned(self, pids: list) -> None:
        for pid in pids:
            if isinstance(pid, int) and all(s.pid != pid for s in self._spawned):
                self._spawned.append(_Spawned(pid, _proc_start_time(pid)))
                log.info("speech-dispatcher %d was started for us; it stops with the app", pid)

    def _stop_spawned(self) -> None:
        alive = [s for s in self._spawned if s.start_time and _proc_start_time(s.pid) == s.start_time]
        self._spawned.clear()
        for spawned in alive:
            _signal(spawned.pid, signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while alive and time.monotonic() < deadline:
            alive = [s for s in alive if _proc_start_time(s.pid) == s.start_time and not _zombie(s.pid)]
            time.sleep(0.02)
        for spawned in alive:
            _signal(spawned.pid, signal.SIGKILL)  # one that cannot open audio ignores TERM


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


# Every supervisor alive, stopped when the application quits and at interpreter exit, so no
# helper outlives the app even when nobody called shutdown().
_SUPERVISORS: weakref.WeakSet[SpeechSupervisor] = weakref.WeakSet()
_hooked = False


def _hook_quit() -> None:
    global _hooked
    app = QCoreApplication.instance()
    if _hooked or app is None:
        return
    _hooked = True
    app.aboutToQuit.connect(stop_all)


def stop_all() -> None:
    for supervisor in list(_SUPERVISORS):
        try:
            supervisor.shutdown()
        except RuntimeError:  # its Qt object is already gone
            pass
    _SUPERVISORS.clear()


atexit.register(stop_all)
