"""Logging: stderr for the console, a rotating file in the user log directory for the app (its
owner's only: a log names orders)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from notifier.core import paths

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    """The app's log file (a helper asked to look "in the log" looks here)."""
    return paths.log_dir() / "notifier.log"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600, whatever the umask."""

    def _open(self):
        from notifier.core.private_files import open_private

        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def file_handler() -> logging.Handler:
    """The handler that writes the app's log file."""
    return PrivateRotatingFileHandler(log_file(), maxBytes=2 * 1024 * 1024, backupCount=5,
                                      encoding="utf-8")


def configure(level: str = "INFO", *, to_file: bool = False, stream=sys.stderr) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(console)
    if to_file:
        handler = file_handler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    # Libraries log request lines that may include URLs with credentials; keep them quiet.
    for noisy in ("websocket", "urllib3", "aiohttp.access", "keyring"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
