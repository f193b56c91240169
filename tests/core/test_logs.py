"""The app's log lines are written by a thread of their own: a line logged while the disk (here a
stream whose write is held) does not answer returns at once, and is written once it answers;
nothing queued is lost at a clean exit."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

from helpers import wait_until

from notifier.core import logs


class HeldStream:
    """A stream whose writes wait until `release()`: a disk that stopped answering."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._open = threading.Event()

    def write(self, text: str) -> None:
        self._open.wait(10)
        self.lines.append(text)

    def flush(self) -> None:
        pass

    def release(self) -> None:
        self._open.set()


def test_a_line_logged_while_the_disk_hangs_returns_at_once_and_is_written_later():
    stream = HeldStream()
    logs.configure("INFO", stream=stream, background=True)
    try:
        started = time.monotonic()
        logging.getLogger("notifier.test").info("notify: %s", "新订单 #1")
        logging.getLogger("notifier.test").info("announce: %s", "您有新的订单")
        assert time.monotonic() - started < 0.5, "the logging thread waited for the stream"
        assert stream.lines == []
        stream.release()
        wait_until(lambda: len(stream.lines) == 2, 5, message="both lines written")
        assert "INFO notifier.test: notify: 新订单 #1" in stream.lines[0]
        assert "announce: 您有新的订单" in stream.lines[1]
    finally:
        stream.release()
        logs.configure("WARNING")


def test_what_is_queued_at_exit_is_written():
    script = ("import logging; from notifier.core import logs\n"
              "logs.configure('INFO', background=True)\n"
              "for n in range(500): logging.getLogger('x').info('line %d', n)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) == 500 and lines[-1].endswith("INFO x: line 499")
