"""Logging: stderr for the console, a rotating file in the user log directory for the app (its
owner's only: a log names orders).

The tray app logs from its Qt main thread (each popup, each announcement). Writing a line is a
`write` and a `flush` to stderr and to the file, plus the file's rotation check — disk calls that
wait when the disk is busy (an update, a backup, other programs' writes), stalling the very
thread that shows the next popup. So the app logs `background=True`: a record is formatted
where it is made and queued, and one thread writes the queue out; the handlers are flushed at
exit. A process killed outright may lose the last few milliseconds of its log.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
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


_writer: logging.handlers.QueueListener | None = None


@atexit.register
def stop_writer() -> None:
    """Write out what is queued and end the writing thread (at exit, and before reconfiguring)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


def configure(level: str = "INFO", *, to_file: bool = False, stream=sys.stderr,
              background: bool = False) -> None:
    """Log at `level` to `stream` (and the log file); `background`: written by a thread of its
    own (see the module docstring)."""
    global _writer
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stop_writer()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.Handler] = [console]
    if to_file:
        handler = file_handler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handlers.append(handler)
    if background:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _writer = logging.handlers.QueueListener(records, *handlers)
        _writer.start()
        root.addHandler(logging.handlers.QueueHandler(records))
    else:
        for handler in handlers:
            root.addHandler(handler)
    # Libraries log request lines that may include URLs with credentials; keep them quiet.
    for noisy in ("urllib3", "aiohttp.access", "keyring"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
