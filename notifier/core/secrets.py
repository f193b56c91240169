"""Secrets (tokens, passwords) in the OS keyring, and honest words when there is none.

Everything is stored under one service name, `order-notifier`, with the secret's name as the
keyring user name. Every keyring call is guarded: a missing, locked or broken keyring is reported
as a `SecretProblem` with a sentence, and the caller keeps running without the secret. Secret
values never go into exceptions, logs or reprs.

Headless listeners (a server with no keyring) can be handed their secrets two more ways, looked at
before the keyring, in this order:
1. systemd credentials: `$CREDENTIALS_DIRECTORY/<name>` (a unit's `LoadCredential=`), the secret
   meant for this very run, handed over without the environment or the command line;
2. the secret file named by the `secrets.file` setting: TOML, one `name = "value"` per line
   (plain `name = value` lines are read too), refused unless it belongs to this user and no one
   else may read or write it (`chmod 600`).
Only reading looks there; saving and clearing always go to the keyring, the default and the only
store the settings dialog writes.

On Linux the Secret Service is spoken to directly (`secret_service`, over jeepney), which keeps
`keyring` and its `cryptography` import (~15 MB) out of the long-running app. `keyring` is used on
Windows and macOS, on Linux when no Secret Service answers (KWallet-only desktops), and whenever
the user picked a backend with PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from notifier.core.i18n import tr

log = logging.getLogger(__name__)

SERVICE = "order-notifier"
RETRY_PAUSE_S = 0.5  # before reading again from a Secret Service that did not answer


class SecretState(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    NO_KEYRING = "no_keyring"
    NO_KEYRING_YET = "no_keyring_yet"  # a Secret Service with no default keyring on this account
    LOCKED = "locked"
    REFUSED = "refused"  # the secret file may be read by others, or is not readable as one
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SecretProblem:
    state: SecretState
    name: str
    backend: str
    detail: str = ""  # the sentence itself, for states that carry their own (REFUSED)

    def sentence(self) -> str:
        if self.detail:
            return self.detail
        if self.state is SecretState.NOT_FOUND:
            return tr("No {name} is saved in {backend}.", name=self.name, backend=self.backend)
        if self.state is SecretState.NO_KEYRING:
            return tr(
                "No system keyring is available, so passwords cannot be saved; "
                "the notifier runs without them."
            )
        if self.state is SecretState.NO_KEYRING_YET:
            return tr("This account has no keyring yet; saving a password will ask you to create "
                      "one and choose its password.")
        if self.state is SecretState.LOCKED:
            return tr("The keyring ({backend}) is locked; unlock it to use saved passwords.", backend=self.backend)
        return tr("The keyring ({backend}) could not be used.", backend=self.backend)


class SecretFileRefused(ValueError):
    """The secret file cannot be used; `sentence` says why and what to do. Never holds a value."""

    def __init__(self, sentence: str):
        super().__init__(sentence)
        self.sentence = sentence


MAX_SECRET_FILE_BYTES = 64 * 1024


def read_secret_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The secrets in an owner-only file, or SecretFileRefused saying why not.

    The checks are made on the opened file (fstat), so what is checked is what is read. It is
    opened without waiting (O_NONBLOCK): a FIFO or a device named by mistake is refused with a
    sentence at once instead of waiting forever for a writer. At most 64 KiB are read.
    """
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SecretFileRefused(tr("The secret file {path} does not exist.", path=path)) from None
    except OSError as exc:
        raise SecretFileRefused(tr("The secret file {path} cannot be read ({reason}).",
                                   path=path, reason=exc.strerror or type(exc).__name__)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)  # before fdopen, which refuses a folder with an error of its own
        raise SecretFileRefused(tr("The secret file {path} is not a regular file (a folder, a pipe "
                                   "or a device); name the file itself.", path=path))
    with os.fdopen(fd, "rb") as file:
        if os.name == "posix":
            # Windows has no owner/group/other bits: there the folder's permissions decide.
            if info.st_uid != os.geteuid():
                raise SecretFileRefused(tr(
                    "The secret file {path} belongs to another user; it must belong to the user "
                    "the notifier runs as.", path=path))
            if info.st_mode & 0o077:
                raise SecretFileRefused(tr(
                    "The secret file {path} can be read or changed by other users (mode {mode}); "
                    "make it private with: chmod 600 {path}",
                    path=path, mode=f"{stat.S_IMODE(info.st_mode):04o}"))
        data = file.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretFileRefused(tr("The secret file {path} is larger than 64 KiB: it is not a secret "
                                   "file.", path=path))
    return _parse_secret_file(data, path)


def _parse_secret_file(data: bytes, path: Path) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileRefused(tr("The secret file {path} is not UTF-8 text.", path=path)) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        table = None
    if table is not None:
        return {str(k): v for k, v in table.items() if isinstance(v, str)}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            # The line number only: the line may hold a secret.
            raise SecretFileRefused(tr("Line {number} of the secret file {path} is not "
                                       "name = value.", number=number, path=path))
        values[name.strip()] = value.strip()
    return values


def credential(name: str) -> str | None:
    """The systemd credential `name` handed to this service, if any (`LoadCredential=`)."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder or not name or "/" in name or name.startswith("."):
        return None
    try:
        value = (Path(folder) / name).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return value.rstrip("\r\n")


def _why(exc: Exception) -> str:
    """The exception's type, plus its text for our own Secret Service errors, whose messages
    are written never to hold a value (a backend's text is not ours to vouch for)."""
    from notifier.core.secret_service import SecretServiceError

    if isinstance(exc, SecretServiceError) and str(exc):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


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

    def __init__(self, service: str = SERVICE, *, secret_file: str | os.PathLike[str] | None = None):
        self.service = service
        self.secret_file = Path(secret_file).expanduser() if secret_file else None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Mapping[str, Any]) -> SecretStore:
        """The store a listener with these settings reads from; SecretFileRefused when the
        secret file they name cannot be used (said at start, not at the first login)."""
        path = settings["secrets.file"]
        if path:
            read_secret_file(path)
        return cls(secret_file=path or None)

    def _handed_over(self, name: str) -> tuple[str | None, SecretProblem | None]:
        """From systemd credentials or the secret file, before any keyring is asked."""
        value = credential(name)
        if value:
            return value, None
        if self.secret_file is None:
            return None, None
        try:
            return read_secret_file(self.secret_file).get(name), None
        except SecretFileRefused as exc:
            log.warning("%s", exc.sentence)
            return None, SecretProblem(SecretState.REFUSED, name, tr("the secret file"), exc.sentence)

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

        if isinstance(exc, secret_service.NoKeyringYet):
            return SecretState.NO_KEYRING_YET
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

    def _read(self, name: str) -> str | None:
        from notifier.core.secret_service import NotAnswered, get_secret

        for attempt in (1, 2):
            try:
                direct, value = self._direct(get_secret, name)
                break
            except NotAnswered as exc:
                # A read is safe to repeat; one unanswered call on a busy machine should not
                # cost a listener its login until the next pull, minutes later.
                if attempt == 2:
                    raise
                log.info("the Secret Service did not answer (%s); asking once more", exc)
                time.sleep(RETRY_PAUSE_S)
        if not direct:
            value = self._keyring().get_password(self.service, name)
        return value

    def get(self, name: str) -> tuple[str | None, SecretProblem | None]:
        """The secret, or (None, problem) saying why there is none."""
        value, problem = self._handed_over(name)
        if value is not None or problem is not None:
            return value, problem
        with self._lock:
            try:
                value = self._read(name)
            except Exception as exc:  # noqa: BLE001
                state = self._classify(exc)
                log.warning("keyring read of %s failed: %s (%s)", name, state, _why(exc))
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
                log.warning("keyring write of %s failed: %s (%s)", name, state, _why(exc))
                if state is SecretState.NO_KEYRING_YET:  # saving asked, and nobody created one
                    return SecretProblem(state, name, self.backend_name(), tr(
                        "This account has no keyring yet, and the prompt to create one was "
                        "dismissed or could not be shown; save again on the desktop and choose a "
                        "password for the new keyring."))
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
                log.warning("keyring delete of %s failed: %s (%s)", name, state, _why(exc))
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
