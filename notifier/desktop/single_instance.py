"""One notifier per user: a second launch hands over to the first one and exits.

Two notifiers would announce every order twice. The first instance listens on a local socket
(QLocalServer: a named pipe on Windows, a Unix socket elsewhere); a later launch connects, says
"show", and exits 0, and the first one brings up its window. The name is derived from the
settings folder, so a portable install or a test with its own NOTIFIER_HOME is its own instance.
"""

from __future__ import annotations

import getpass
import hashlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from notifier.core import paths

log = logging.getLogger(__name__)

HANDOVER_TIMEOUT_MS = 1000


def instance_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (odd containers): the folder still separates
        user = "user"
    digest = hashlib.sha256(f"{user}|{paths.config_dir()}".encode()).hexdigest()[:16]
    return f"order-notifier-{digest}"


class SingleInstance(QObject):
    """`acquire()` is True for the first instance; later ones hand over their message."""

    #: another launch asked this instance to show itself (with what it sent)
    activated = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name or instance_name()
        self._server: QLocalServer | None = None

    def acquire(self, message: str = "show") -> bool:
        if self._hand_over(message):
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # A socket file left by a crashed instance: nobody answered above, so it is stale.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("single-instance socket unavailable: %s", server.errorString())
                return True  # better two notifiers than none
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _hand_over(self, message: str) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(HANDOVER_TIMEOUT_MS):
            return False
        socket.write((message + "\n").encode())
        socket.waitForBytesWritten(HANDOVER_TIMEOUT_MS)
        # Wait for the first instance's reply, so we exit only once it has the message.
        socket.waitForReadyRead(HANDOVER_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        message = bytes(socket.readLine().data()).decode(errors="replace").strip()
        socket.write(b"ok\n")
        socket.flush()
        self.activated.emit(message)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
