"""Secrets (tokens, passwords) in the OS keyring, and honest words when there is none.

Everything is stored under one service name, `order-notifier`, with the secret's name as the
keyring user name. Every keyring call is guarded: a missing, locked or broken keyring is reported
as a `SecretProblem` with a sentence, and the caller keeps running without the secret. Secret
values never go into exceptions, logs or reprs.

On Linux the Secret Service is spoken to directly (`secret_service`, over jeepney), which keeps
`keyring` and its `cryptography` import (~15 MB) out of the long-running app. `keyring` is used on
Windows and macOS, on Linux when no Secret Service answers (KWallet-only desktops), and whenever
the user picked a backend with PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum

from notifier.core.i18n import tr

log = logging.getLogger(__name__)

SERVICE = "order-notifier"


class SecretState(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    NO_KEYRING = "no_keyring"
    LOCKED = "locked"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SecretProblem:
    state: SecretState
    name: str
    backend: str

    def sentence(self) -> str:
        if self.state is SecretState.NOT_FOUND:
            return tr("No {name} is saved in {backend}.", name=self.name, backend=self.backend)
        if self.state is SecretState.NO_KEYRING:
            return tr(
                "No system keyring is available, so passwords cannot be saved; "
                "the notifier runs without them."
            )
        if self.state is SecretState.LOCKED:
            return tr("The keyring ({backend}) is locked; unlock it to use saved passwords.", backend=self.backend)
        return tr("The keyring ({backend}) could not be used.", backend=self.backend)


def _friendly_backend(backend: object) -> str:
    module = type(backend).__module__
    if "Windows" in module:
        return tr("Windows Credential Manager")
    if "macOS" in module:
        return tr("macOS Keychain")
    if "SecretService" in module or "libsecret" in module:
        return "Secret Service"
    if "kwallet" in module.lower():
        return "KWallet"
    if "fail" in module or "null" in module:
        return tr("no keyring")
    return type(backend).__name__


class SecretStore:
    """The keyring, one guarded call at a time (some backends are not thread-safe)."""

    def __init__(self, service: str = SERVICE):
        self.service = service
        self._lock = threading.Lock()

    def _keyring(self):
        import keyring  # imported late: backend discovery costs start-up time

        return keyring

    @staticmethod
    def _secret_service_first() -> bool:
        return (sys.platform.startswith("linux") or "bsd" in sys.platform) \
            and not os.environ.get("PYTHON_KEYRING_BACKEND")

    def _direct(self, operation, *args):
        """(True, result) from the Secret Service, or (False, None): use keyring instead.
        Raises SecretServiceError for a Secret Service that is there but failed."""
        if not self._secret_service_first():
            return False, None
        from notifier.core import secret_service

        try:
            return True, operation(self.service, *args)
        except secret_service.Unavailable:
            return False, None

    def backend_name(self) -> str:
        if self._secret_service_first():
            from notifier.core import secret_service

            if secret_service.available():
                return "Secret Service"
        try:
            return _friendly_backend(self._keyring().get_keyring())
        except Exception:  # noqa: BLE001 - any backend failure means "none usable"
            return tr("no keyring")

    def _classify(self, exc: Exception) -> SecretState:
        from notifier.core import secret_service

        if isinstance(exc, secret_service.Locked):
            return SecretState.LOCKED
        if isinstance(exc, secret_service.SecretServiceError):
            return SecretState.ERROR
        from keyring.errors import InitError, KeyringLocked, NoKeyringError

        if isinstance(exc, NoKeyringError | InitError):
            return SecretState.NO_KEYRING
        if isinstance(exc, KeyringLocked):
            return SecretState.LOCKED
        text = type(exc).__name__ + str(exc)
        if "locked" in text.lower() or "dismissed" in text.lower():
            return SecretState.LOCKED
        return SecretState.ERROR

    def get(self, name: str) -> tuple[str | None, SecretProblem | None]:
        """The secret, or (None, problem) saying why there is none."""
        with self._lock:
            try:
                from notifier.core.secret_service import get_secret

                direct, value = self._direct(get_secret, name)
                if not direct:
                    value = self._keyring().get_password(self.service, name)
            except Exception as exc:  # noqa: BLE001
                state = self._classify(exc)
                log.warning("keyring read of %s failed: %s (%s)", name, state, type(exc).__name__)
                return None, SecretProblem(state, name, self.backend_name())
        if value is None:
            return None, SecretProblem(SecretState.NOT_FOUND, name, self.backend_name())
        return value, None

    def set(self, name: str, value: str) -> SecretProblem | None:
        with self._lock:
            try:
                from notifier.core.secret_service import set_secret

                direct, _ = self._direct(set_secret, name, value)
                if not direct:
                    self._keyring().set_password(self.service, name, value)
            except Exception as exc:  # noqa: BLE001
                state = self._classify(exc)
                log.warning("keyring write of %s failed: %s (%s)", name, state, type(exc).__name__)
                return SecretProblem(state, name, self.backend_name())
        log.info("saved %s in %s", name, self.backend_name())
        return None

    def clear(self, name: str) -> SecretProblem | None:
        with self._lock:
            try:
                from notifier.core.secret_service import delete_secret

                direct, found = self._direct(delete_secret, name)
                if direct and not found:
                    return SecretProblem(SecretState.NOT_FOUND, name, self.backend_name())
                if not direct:
                    self._keyring().delete_password(self.service, name)
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ == "PasswordDeleteError":  # keyring's "there was none"
                    return SecretProblem(SecretState.NOT_FOUND, name, self.backend_name())
                state = self._classify(exc)
                log.warning("keyring delete of %s failed: %s (%s)", name, state, type(exc).__name__)
                return SecretProblem(state, name, self.backend_name())
        return None


class MemorySecrets(SecretStore):
    """Secrets held in memory only: for the embedded demo, which has no keyring to touch."""

    def __init__(self, values: dict[str, str] | None = None):
        super().__init__()
        self._values = dict(values or {})

    def backend_name(self) -> str:
        return tr("memory (demo)")

    def get(self, name: str) -> tuple[str | None, SecretProblem | None]:
        if name in self._values:
            return self._values[name], None
        return None, SecretProblem(SecretState.NOT_FOUND, name, self.backend_name())

    def set(self, name: str, value: str) -> SecretProblem | None:
        self._values[name] = value
        return None

    def clear(self, name: str) -> SecretProblem | None:
        self._values.pop(name, None)
        return None
