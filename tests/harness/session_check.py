"""Readiness checks the desktop session runs before handing over to the tests.

Usage: python session_check.py DEADLINE_SECONDS CHECK...   (checks: keyring, speechd, tray)

Each check polls until it passes or the deadline runs out, then says in one line which component
is not ready and why. Exit status 0 when every check passed, 1 otherwise. Kept in one process so
the session pays for one Python start-up, not one per component.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable


class NotReady(Exception):
    """The component answered, but not the way a ready one does (the message says how)."""


def check_keyring() -> None:
    import keyring
    import secretstorage

    backend = keyring.get_keyring()
    if "SecretService" not in type(backend).__module__:
        raise NotReady(f"keyring chose {backend!r}, not the Secret Service backend")
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        if collection.is_locked():
            raise NotReady("the default collection is locked (the --unlock password was not taken)")
    finally:
        conn.close()


def check_speechd() -> None:
    path = os.environ["SPEECHD_SOCK"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(path)
        sock.sendall(b"LIST OUTPUT_MODULES\r\n")
        reply = b""
        # SSIP ends a multi-line answer with a line "2xx OK ..." or an error line "3xx/4xx ...".
        while not any(line[:1] in (b"2", b"3", b"4", b"5") and line[3:4] == b" "
                      for line in reply.split(b"\r\n")):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        sock.sendall(b"QUIT\r\n")
    if b"espeak-ng" not in reply:
        raise NotReady(f"no espeak-ng output module: {reply.decode(errors='replace').strip()!r}")


_app = None


def check_tray() -> None:
    global _app
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    if _app is None:
        _app = QApplication.instance() or QApplication(["session-check"])
    _app.processEvents()
    if not QSystemTrayIcon.isSystemTrayAvailable():
        raise NotReady("QSystemTrayIcon.isSystemTrayAvailable() is False")


CHECKS: dict[str, tuple[str, Callable[[], None]]] = {
    "keyring": ("gnome-keyring-daemon (Secret Service)", check_keyring),
    "speechd": ("speech-dispatcher", check_speechd),
    "tray": ("tray host (trayer)", check_tray),
}


def wait(name: str, deadline: float) -> str | None:
    """None when the check passed before the deadline, else the last reason it failed."""
    label, check = CHECKS[name]
    while True:
        try:
            check()
            return None
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            reason = f"{label} is not ready: {type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            return reason
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    deadline = time.monotonic() + float(argv[0])
    failures = [reason for name in argv[1:] if (reason := wait(name, deadline))]
    for reason in failures:
        print(f"desktop-session: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
