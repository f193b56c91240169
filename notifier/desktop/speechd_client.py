"""Speaking through speech-dispatcher's own protocol (SSIP), for the speech helper on Linux.

Why not QtTextToSpeech's speechd engine for the words: its `stop()` (and its destructor while a
line is playing) calls `spd_cancel_all`, which silences every program's speech on the desktop,
not only ours (PLATFORM-NOTES.md: a diagnostic cut another program's sentence from 16.2 s to
5.4 s). The owner's "accept" must stop this order's line mid-word, so the helper needs a cancel
that touches only its own messages: SSIP's `CANCEL self`, on a connection of its own. Qt's engine
is still opened for what it does well (finding the voices); this connection only speaks.

SSIP is a line protocol on speech-dispatcher's socket: a command, then one reply (`NNN-…`
continuation lines, `NNN text` last); `SPEAK` takes the text up to a line holding a single dot.
With notifications on, speech-dispatcher also sends events (`701 BEGIN`, `702 END`,
`703 CANCELED`, each preceded by the message id and the client id) at any time, so one reader
thread sorts events from replies. Every command waits for its reply at most `REPLY_TIMEOUT_S`
(`WARM_UP_TIMEOUT_S` until the first line is spoken): a
speech-dispatcher that stops answering (no audio) makes a command fail, never hang the helper.
A reply that came too late would be read as the next command's (a busy PC once had every later
line fail with "SPEAK: OK RATE SET"), so a connection that missed a reply is hung up
(SpeechdLost) and the helper opens a new one.

The voices are listed here too (`list_voices`): libspeechd parses the 13,000-line list of
espeak-ng's voices and variants in time that grows with its square (1.3 s of CPU in the helper
at each start, Qt's engine calling it; 12 s and more on a busy PC); read here it takes ~0.1 s.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 3.0
# Until the first line is spoken: a speech-dispatcher just started (autospawned by this
# connection) loads its voice modules first, which took over 3 s on a busy 2-core PC.
WARM_UP_TIMEOUT_S = 15.0
LIST_TIMEOUT_S = 8.0
EVENTS = {"701": "begin", "702": "end", "703": "cancel"}
# Qt's speechd engine speaks with this priority; keep its place among other programs' speech.
PRIORITY = "message"


class SpeechdError(OSError):
    """speech-dispatcher refused a command, did not answer in time, or hung up."""


class SpeechdUnreachable(SpeechdError):
    """Nothing listens where speech-dispatcher should."""


class SpeechdLost(SpeechdError):
    """The connection is gone or out of step (a reply did not come in time): open a new one."""


def socket_address(environ: dict[str, str] | None = None) -> tuple[int, object]:
    """(address family, address) where speech-dispatcher listens, as libspeechd finds it:
    $SPEECHD_ADDRESS (`unix_socket:PATH` or `inet_socket:HOST:PORT`), else the user's runtime
    folder."""
    env = os.environ if environ is None else environ
    address = env.get("SPEECHD_ADDRESS", "").strip()
    if address.startswith("unix_socket:"):
        return socket.AF_UNIX, address.split(":", 1)[1]
    if address.startswith("inet_socket:"):
        host, _, port = address.split(":", 1)[1].rpartition(":")
        return socket.AF_INET, (host or "127.0.0.1", int(port or 6560))
    runtime = env.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return socket.AF_UNIX, str(Path(runtime) / "speech-dispatcher" / "speechd.sock")


def volume_value(volume: float) -> int:
    """0..1 as SSIP's -100..100, as Qt's speechd engine maps it."""
    return round(min(1.0, max(0.0, volume)) * 200 - 100)


def rate_value(rate: float) -> int:
    """-1..1 as SSIP's -100..100."""
    return round(min(1.0, max(-1.0, rate)) * 100)


class SpeechdClient:
    """One SSIP connection: speak a line, cancel our own lines; events go to `on_event(kind,
    message id)` (kind "begin", "end" or "cancel") on the reader thread."""

    def __init__(self, on_event: Callable[[str, int], None], environ: dict[str, str] | None = None):
        self._on_event = on_event
        family, address = socket_address(environ)
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.settimeout(REPLY_TIMEOUT_S)
        try:
            self._sock.connect(address)
        except OSError as exc:
            self._sock.close()
            raise SpeechdUnreachable(f"cannot connect to speech-dispatcher at {address}: {exc}") from None
        self._sock.settimeout(None)
        self._replies: queue.SimpleQueue[tuple[str, list[str]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # one command (and its reply) at a time
        self._closed = False
        self._lost = ""  # why this connection can no longer be used
        self._warm = False  # a line was spoken: later replies get REPLY_TIMEOUT_S
        threading.Thread(target=self._read, name="speechd-events", daemon=True).start()
        user = os.environ.get("USER") or str(os.getuid())
        try:
            self._set_up(user)
        except SpeechdError:
            self.close()
            raise

    def _set_up(self, user: str) -> None:
        self.command(f"SET self CLIENT_NAME {user}:order-notifier:speech")
        self.command("SET self NOTIFICATION BEGIN on")
        self.command("SET self NOTIFICATION END on")
        self.command("SET self NOTIFICATION CANCEL on")
        self.command(f"SET self PRIORITY {PRIORITY}")

    # -- commands ------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return not self._lost and not self._closed

    def command(self, line: str, data: str | None = None, *,
                timeout: float | None = None) -> list[str]:
        """Send one command (and for SPEAK its text) and return its reply lines; raises
        SpeechdError on an error reply, SpeechdLost when no reply came in time or the connection
        is gone (it is then hung up: every later command fails the same way)."""
        with self._lock:
            if self._lost:
                raise SpeechdLost(self._lost)
            self._send(line + "\r\n")
            code, lines = self._reply(timeout)
            if data is not None:
                if code != "230":
                    raise SpeechdError(f"{line}: {' '.join(lines)}")
                body = "\r\n".join("." + part if part.startswith(".") else part
                                   for part in data.replace("\r", "").split("\n"))
                self._send(body + "\r\n.\r\n")
                code, lines = self._reply(timeout)
        if not code.startswith("2"):
            raise SpeechdError(f"{line}: {' '.join(lines)}")
        return lines

    def list_voices(self) -> list[tuple[str, str, str]]:
        """(name, language tag, output module) of every voice of every output module. The
        connection's module is left changed: list on a connection of its own."""
        voices: list[tuple[str, str, str]] = []
        for module in self.command("LIST OUTPUT_MODULES", timeout=LIST_TIMEOUT_S)[:-1]:
            try:
                self.command(f"SET self OUTPUT_MODULE {module}", timeout=LIST_TIMEOUT_S)
                rows = self.command("LIST SYNTHESIS_VOICES", timeout=LIST_TIMEOUT_S)[:-1]
            except SpeechdLost:
                raise
            except SpeechdError:  # a module that cannot list (not loaded): its voices are not offered
                continue
            for row in rows:
                name, _, rest = row.partition("\t")
                if name:
                    voices.append((name, rest.partition("\t")[0], module))
        return voices

    def speak(self, text: str, *, voice: str = "", module: str = "", language: str = "",
              volume: float = 1.0, rate: float = 0.0) -> int:
        """Queue a line; returns its message id (the events name it)."""
        if module:
            self.command(f"SET self OUTPUT_MODULE {module}")
        if voice:
            self.command(f"SET self SYNTHESIS_VOICE {voice}")
        elif language:
            self.command(f"SET self LANGUAGE {language}")
        self.command(f"SET self VOLUME {volume_value(volume)}")
        self.command(f"SET self RATE {rate_value(rate)}")
        lines = self.command("SPEAK", data=text)
        try:
            message_id = int(lines[0])
        except (IndexError, ValueError):
            raise SpeechdError(f"SPEAK: no message id in {lines}") from None
        self._warm = True
        return message_id

    def cancel(self) -> None:
        """Stop our own line now and drop our queued ones; other programs' speech goes on."""
        self.command("CANCEL self")

    def close(self) -> None:
        """Hang up without cancelling anything (a line being spoken is left to finish)."""
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def _send(self, text: str) -> None:
        try:
            self._sock.sendall(text.encode("utf-8"))
        except OSError as exc:
            self._lost = f"speech-dispatcher connection lost: {exc}"
            raise SpeechdLost(self._lost) from None

    def _reply(self, timeout: float | None = None) -> tuple[str, list[str]]:
        if timeout is None:
            timeout = REPLY_TIMEOUT_S if self._warm else WARM_UP_TIMEOUT_S
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            # Its reply may still come, and would be taken for the next command's: hang up.
            self._lost = f"speech-dispatcher did not answer in {timeout:g} s"
            self.close()
            raise SpeechdLost(self._lost) from None
        if reply is None:
            self._lost = "speech-dispatcher closed the connection"
            raise SpeechdLost(self._lost)
        return reply

    # -- the reader thread ---------------------------------------------------------------

    def _read(self) -> None:
        pending: list[str] = []
        stream = self._sock.makefile("rb")
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(line) < 4:
                    continue
                code, last, text = line[:3], line[3] == " ", line[4:]
                pending.append(text)
                if not last:
                    continue
                lines, pending = pending, []
                if code.startswith("7"):
                    self._event(code, lines)
                else:
                    self._replies.put((code, lines))
        except (OSError, ValueError):
            pass
        finally:
            if not self._closed:
                log.info("speech-dispatcher connection closed")
            self._replies.put(None)

    def _event(self, code: str, lines: list[str]) -> None:
        kind = EVENTS.get(code)
        if kind is None:
            return
        try:
            message = int(lines[0])
        except (IndexError, ValueError):
            return
        try:
            self._on_event(kind, message)
        except Exception:  # noqa: BLE001 - a broken observer must not end the connection
            log.exception("speech event observer failed")
