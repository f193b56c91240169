"""What every source is: something that owns a connection in its own thread and hands order
events to a sink, publishing its connection state as it goes."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Receives decoded events on the source's thread.

    Returns only after the event is on disk; True when it was new. `cursor` (name, value) is
    saved with it, atomically, for sources that resume from a position.
    """

    def __call__(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False
    ) -> bool: ...


StatusCallback = Callable[[ConnectionStatus], None]


class Source(ABC):
    """One push server connection. Subclasses implement `_run` (the thread body)."""

    protocol: str = ""
    logged_as = "connection"  # what its state lines start with in the log

    def __init__(
        self,
        settings: Settings,
        sink: EventSink,
        on_status: StatusCallback,
        secrets: SecretStore,
    ):
        self.settings = settings
        self.sink = sink
        self._on_status = on_status
        self.secrets = secrets
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = ConnectionStatus(ConnState.STOPPED, self.server_label())
        self._status_lock = threading.Lock()

    # -- for the owner -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._guarded_run, name=f"source-{self.protocol}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.publish(ConnectionStatus(ConnState.STOPPED, self.server_label()))

    def reconnect_now(self) -> None:
        """Drop the current connection (or the wait before the next attempt) and connect again."""
        self._wake(reconnect=True)

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- for subclasses ------------------------------------------------------------------

    def server_label(self) -> str:
        """Host (and shop) shown to people: never the full URL, which may carry a token."""
        from urllib.parse import urlsplit

        url = self.settings["connection.url"]
        try:
            host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        except ValueError:
            host = ""
        return host or url[:40]

    def publish(self, status: ConnectionStatus) -> None:
        with self._status_lock:
            if status == self._status:
                return
            self._status = status
        log.info("%s: %s %s", self.logged_as, status.state, status.detail)
        try:
            self._on_status(status)
        except Exception:  # noqa: BLE001 - a broken observer must not kill the source
            log.exception("status observer failed")

    def deliver(
        self, event: OrderEvent, cursor: tuple[str, str] | None = None, *, durable: bool = False
    ) -> bool:
        """Hand `event` to the sink; returns after it is on disk (`durable`: synced to the disk
        itself, for sources that acknowledge upstream right after)."""
        if durable:
            return self.sink(event, cursor, durable=True)
        return self.sink(event, cursor)

    def saved_cursor(self, name: str) -> str | None:
        """The resume position last saved with `deliver(..., cursor=(name, value))`, if any.

        Read through the sink's owner (OrderIntake.cursor), or a sink object's own `cursor`.
        """
        owner = getattr(self.sink, "__self__", self.sink)
        reader = getattr(owner, "cursor", None)
        return reader(name) if callable(reader) else None

    @abstractmethod
    def _run(self) -> None: ...

    def _wake(self, reconnect: bool = False) -> None:
        """Interrupt whatever the thread waits on (overridden by sources that block on I/O)."""

    def _guarded_run(self) -> None:
        # Nothing may escape the source thread: an exception here would silently end all orders.
        while not self._stop.is_set():
            try:
                self._run()
                return
            except Exception:  # noqa: BLE001
                log.exception("source %s crashed; restarting it", self.protocol)
                if self._stop.wait(5.0):
                    return
