"""Logging: stderr for the console, a rotating file in the user log directory for the app."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from notifier.core import paths

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    """The app's log file (a helper asked to look "in the log" looks here)."""
    return paths.log_dir() / "notifier.log"


def configure(level: str = "INFO", *, to_file: bool = False, stream=sys.stderr) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(console)
    if to_file:
        file_handler = logging.handlers.RotatingFileHandler(
            log_file(), maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(file_handler)
    # Libraries log request lines that may include URLs with credentials; keep them quiet.
    for noisy in ("websocket", "urllib3", "aiohttp.access", "keyring"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
