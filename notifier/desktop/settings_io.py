"""What the settings dialog asks of the outside world, and the one way it asks: off the GUI thread.

A keyring call may wait on D-Bus or an unlock prompt; a connection test waits on the network.
`in_background` runs such a call in a worker thread and hands its answer (or a fallback, when
it raised) to a slot on the GUI thread through a queued signal, so the dialog never freezes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from notifier.core.secrets import SecretProblem, SecretStore
from notifier.core.settings import SECRETS

log = logging.getLogger(__name__)

# Relays waiting for their worker: kept alive here (no Qt parent), so a dialog closed before the
# answer comes leaves nothing dangling.
_waiting: set[QObject] = set()


class _Relay(QObject):
    """Lives on the GUI thread; its worker's `done.emit` is delivered there as a queued call."""

    done = Signal(object)

    def __init__(self, deliver: Callable[[Any], None]):
        super().__init__()
        self._deliver = deliver
        self.done.connect(self._finish)

    @Slot(object)
    def _finish(self, result: Any) -> None:
        _waiting.discard(self)
        try:
            self._deliver(result)
        except RuntimeError:  # the dialog was closed and deleted meanwhile: nobody to tell
            log.debug("answer for a closed window dropped")


def in_background(work: Callable[[], Any], done: Callable[[Any], None], fallback: Callable[[Exception], Any],
                  name: str) -> None:
    """Run `work` in a thread; `done(result)` on the GUI thread, `done(fallback(exc))` if it raised."""
    relay = _Relay(done)
    _waiting.add(relay)

    def run() -> None:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - an answer must always come back
            log.exception("%s failed", name)
            result = fallback(exc)
        relay.done.emit(result)

    threading.Thread(target=run, name=name, daemon=True).start()


SecretStatus = tuple[str, dict[str, tuple[bool, SecretProblem | None]]]


def read_secret_status(secrets: SecretStore) -> SecretStatus:
    """(keyring name, {secret: (stored?, problem)}). The values themselves are dropped here: the
    dialog only ever knows whether one is stored."""
    backend = secrets.backend_name()
    status = {}
    for spec in SECRETS:
        value, problem = secrets.get(spec.name)
        status[spec.name] = (value is not None, problem)
        del value
    return backend, status


class PendingSecrets(SecretStore):
    """The keyring as it will be after Save: typed values first, then what is stored.

    Lets "Test connection" try a password the user typed but has not saved yet.
    """

    def __init__(self, store: SecretStore, typed: dict[str, str], forgotten: set[str]):
        super().__init__(store.service)
        self._store, self._typed, self._forgotten = store, typed, forgotten

    def backend_name(self) -> str:
        return self._store.backend_name()

    def get(self, name: str) -> tuple[str | None, SecretProblem | None]:
        if self._typed.get(name):
            return self._typed[name], None
        if name in self._forgotten:
            return None, None
        return self._store.get(name)
