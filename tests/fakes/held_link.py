"""A TCP relay on 127.0.0.1 whose open connections can be held: a slow shop network, for real.

A PC connected through it keeps its WebSocket stream, but while `hold()` is in force nothing the
server sends on a connection that was already open reaches the PC (it waits in the relay and
arrives on `release()`). Connections opened meanwhile (the PC's decision requests) pass at once.
That is how two PCs decide one order "at the same time" without either hearing the other first,
with the real server, the real app processes and their real sockets.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class HeldLink:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._held_below = 0  # connections numbered below this wait while held
        self._count = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="held-link", daemon=True).start()

    def hold(self) -> None:
        with self._lock:
            self._held_below = self._count
            self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                number = self._count
                self._count += 1
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, number), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, number: int | None) -> None:
        """Copy bytes one way; `number`: the server-to-PC direction of that connection."""
        try:
            while data := source.recv(65536):
                while number is not None and number < self._held_below and not self._flowing.is_set():
                    self._flowing.wait(0.05)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
