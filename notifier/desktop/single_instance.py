"""One notifier per user: a second launch hands over to the first one and exits.

Two notifiers would announce every order twice. The first instance listens on a local socket; a
later launch connects, says "show", waits for "ok" and exits 0, and the first one brings up its
window. The name is derived from the settings folder, so a portable install or a test with its
own NOTIFIER_HOME is its own instance.

Linux and macOS: a Unix socket in a folder only this user can enter, served by QSocketNotifier
on the main thread: $XDG_RUNTIME_DIR when it is the user's own (0700), else
`<temp>/order-notifier-<uid>`, made 0700 and checked to be ours (not a link, nobody else may
enter), else the notifier's private data folder. A name in the shared temp folder itself would
be predictable: another user binding it first made a launch hand over to *them* and exit
"already running". Both ends also check the other's uid (SO_PEERCRED / LOCAL_PEERCRED), so a
socket of another user is never taken for ours. Importing QtNetwork for QLocalServer would add
~3 MB to a process that idles in the tray all day. Windows: QLocalServer (a named pipe, user
access only).

Besides "show", a running instance answers questions (`answer(...)` registers them; `ask()` asks):
`notifier doctor` asks "voice-status" instead of opening a speech engine of its own, which would
cut off the line the app is saying.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import socket
import stat
import struct
import sys
import tempfile
from collections.abc import Callable

from PySide6.QtCore import QDir, QObject, QSocketNotifier, Signal

from notifier.core import paths
from notifier.core.digests import sha256_hex

log = logging.getLogger(__name__)

HANDOVER_TIMEOUT_MS = 1000
MAX_MESSAGE = 1024  # bytes; a message is one short line ("show")
MAX_ANSWER = 64 * 1024  # bytes; an answer is one JSON line


def instance_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (odd containers): the folder still separates
        user = "user"
    digest = sha256_hex(f"{user}|{paths.config_dir()}".encode())[:16]
    return f"order-notifier-{digest}"


def _owner_only(folder: str) -> bool:
    """A real folder (not a link) of this user that nobody else may enter or change."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not info.st_mode & 0o077)


def socket_folder() -> str:
    """A folder only this user can enter, for the socket (see the module docstring)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and _owner_only(runtime):
        return runtime
    folder = os.path.join(QDir.tempPath(), f"order-notifier-{os.geteuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        with contextlib.suppress(OSError):
            info = os.lstat(folder)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
                os.chmod(folder, 0o700)  # ours, made open by something else: close it
    except OSError:
        pass
    if _owner_only(folder):
        return folder
    log.warning("%s is not this user's own folder; the single-instance socket goes in the data "
                "folder", folder)
    return str(paths.data_dir())


def socket_path(name: str) -> str:
    """Where the Unix-socket endpoint listens."""
    return os.path.join(socket_folder(), name)


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket; None where it cannot be asked."""
    try:
        if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return struct.unpack("3i", creds)[1]
        if hasattr(socket, "LOCAL_PEERCRED"):  # macOS, BSD: struct xucred {version, uid, …}
            creds = sock.getsockopt(0, socket.LOCAL_PEERCRED, 76)
            return struct.unpack_from("2I", creds)[1]
    except OSError:
        return None
    return None


def same_user(sock: socket.socket) -> bool:
    uid = peer_uid(sock)
    return uid is None or uid == os.geteuid()


class SingleInstance(QObject):
    """`acquire()` is True for the first instance; later ones hand over their message."""

    #: another launch asked this instance to show itself (with what it sent)
    activated = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None, *,
                 use_qt_local_server: bool | None = None):
        super().__init__(parent)
        self.name = name or instance_name()
        if use_qt_local_server is None:
            use_qt_local_server = not hasattr(socket, "AF_UNIX") or sys.platform == "win32"
        self._endpoint = (_QtLocalEndpoint if use_qt_local_server else _UnixEndpoint)(self)
        self._answers: dict[str, Callable[[], str]] = {}

    def answer(self, question: str, reply: Callable[[], str]) -> None:
        """Answer `question` from another process with reply() (one line) instead of "ok"."""
        self._answers[question] = reply

    def _reply_to(self, message: str) -> str | None:
        """The answer to a registered question; None for a hand-over message (then "ok")."""
        reply = self._answers.get(message)
        if reply is None:
            return None
        try:
            return " ".join(reply().split("\n"))
        except Exception:  # noqa: BLE001 - a question must never take the instance down
            log.exception("answering %r failed", message)
            return ""

    def ask(self, question: str, timeout_ms: int = 3000) -> str | None:
        """Ask the running instance; its one-line answer, or None when none is running."""
        return self._endpoint.ask(question, timeout_ms)

    def acquire(self, message: str = "show") -> bool:
        if self._endpoint.hand_over(message):
            return False
        self._endpoint.listen()  # if that fails: better two notifiers than none
        return True

    def release(self) -> None:
        self._endpoint.close()


class _UnixEndpoint:
    def __init__(self, owner: SingleInstance):
        self.owner = owner
        self.path = socket_path(owner.name)
        self._server: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._inode = 0
        self._clients: dict[int, tuple[socket.socket, QSocketNotifier, bytearray]] = {}

    def hand_over(self, message: str) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(HANDOVER_TIMEOUT_MS / 1000)
            try:
                sock.connect(self.path)
            except OSError:  # nobody there (or a stale file a crashed instance left)
                return False
            if not same_user(sock):
                log.warning("the single-instance socket %s belongs to another user; ignoring it",
                            self.path)
                return False
            try:
                sock.sendall((message + "\n").encode())
                # Wait for the first instance's reply, so we exit only once it has the message.
                sock.recv(16)
            except OSError:
                pass
        return True

    def ask(self, question: str, timeout_ms: int) -> str | None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_ms / 1000)
            try:
                sock.connect(self.path)
            except OSError:
                return None
            if not same_user(sock):
                return None
            answer = bytearray()
            try:
                sock.sendall((question + "\n").encode())
                while b"\n" not in answer and len(answer) < MAX_ANSWER:
                    data = sock.recv(4096)
                    if not data:
                        break
                    answer += data
            except OSError:
                return None
        return bytes(answer).split(b"\n", 1)[0].decode(errors="replace")

    def listen(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # stale: nobody answered in hand_over
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bound in a private folder, made user-only, then moved into place: the socket is never
        # reachable by other users, not even for a moment.
        folder = tempfile.mkdtemp(prefix=".order-notifier-", dir=os.path.dirname(self.path))
        staged = os.path.join(folder, "socket")
        try:
            server.bind(staged)
            os.chmod(staged, 0o600)
            os.rename(staged, self.path)
            self._inode = os.stat(self.path).st_ino
            server.listen(8)
        except OSError as exc:
            server.close()
            log.warning("single-instance socket unavailable: %s", exc)
            return
        finally:
            with contextlib.suppress(OSError):
                os.unlink(staged)
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        server.setblocking(False)
        self._server = server
        self._notifier = QSocketNotifier(server.fileno(), QSocketNotifier.Type.Read, self.owner)
        self._notifier.activated.connect(self._accept)

    def _accept(self, *_args) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("single-instance accept failed: %s", exc)
                return
            if not same_user(client):
                log.warning("refused a single-instance connection from another user (uid %s)",
                            peer_uid(client))
                client.close()
                continue
            client.setblocking(False)
            fd = client.fileno()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self.owner)
            self._clients[fd] = (client, notifier, bytearray())
            notifier.activated.connect(lambda *_a, fd=fd: self._read(fd))
            self._read(fd)

    def _read(self, fd: int) -> None:
        entry = self._clients.get(fd)
        if entry is None:
            return
        client, _notifier, buffer = entry
        try:
            data = client.recv(MAX_MESSAGE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buffer += data
        if b"\n" in buffer:
            message = bytes(buffer).split(b"\n", 1)[0].decode(errors="replace").strip()
            answer = self.owner._reply_to(message)
            client.setblocking(True)
            client.settimeout(HANDOVER_TIMEOUT_MS / 1000)
            with contextlib.suppress(OSError):
                client.sendall(b"ok\n" if answer is None else answer.encode() + b"\n")
            self._drop(fd)
            if answer is None:
                self.owner.activated.emit(message)
        elif not data or len(buffer) > MAX_MESSAGE:  # hung up, or not our protocol
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        client, notifier, _buffer = self._clients.pop(fd)
        notifier.setEnabled(False)
        notifier.deleteLater()
        client.close()

    def close(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._server is not None:
            self._server.close()
            self._server = None
            # Only our own socket file: a later instance may have taken the name since.
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)


class _QtLocalEndpoint:
    """QLocalServer: a named pipe on Windows (Python's socket module has no AF_UNIX there)."""

    def __init__(self, owner: SingleInstance):
        self.owner = owner
        self._server = None

    def hand_over(self, message: str) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.owner.name)
        if not sock.waitForConnected(HANDOVER_TIMEOUT_MS):
            return False
        sock.write((message + "\n").encode())
        sock.waitForBytesWritten(HANDOVER_TIMEOUT_MS)
        sock.waitForReadyRead(HANDOVER_TIMEOUT_MS)
        sock.disconnectFromServer()
        return True

    def ask(self, question: str, timeout_ms: int) -> str | None:
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.owner.name)
        if not sock.waitForConnected(timeout_ms):
            return None
        sock.write((question + "\n").encode())
        sock.waitForBytesWritten(timeout_ms)
        while not sock.canReadLine() and sock.waitForReadyRead(timeout_ms):
            pass
        answer = bytes(sock.readLine().data()).decode(errors="replace").strip()
        sock.disconnectFromServer()
        return answer

    def listen(self) -> None:
        from PySide6.QtNetwork import QLocalServer

        server = QLocalServer(self.owner)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.owner.name):
            QLocalServer.removeServer(self.owner.name)  # stale: nobody answered in hand_over
            if not server.listen(self.owner.name):
                log.warning("single-instance socket unavailable: %s", server.errorString())
                return
        server.newConnection.connect(self._on_connection)
        self._server = server

    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock) -> None:
        if not sock.canReadLine():
            return
        message = bytes(sock.readLine().data()).decode(errors="replace").strip()
        answer = self.owner._reply_to(message)
        sock.write(b"ok\n" if answer is None else answer.encode() + b"\n")
        sock.flush()
        if answer is None:
            self.owner.activated.emit(message)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
