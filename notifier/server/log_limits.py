"""Log lines that cannot flood the disk: one line per cause per window, then how many were left out.

A server that fails the same way many times a second (a shop's back end down, the store gone,
file descriptors exhausted) must still leave a log an operator can read: the first line of each
cause says what happened, the next one after the window says how often it happened meanwhile.
A cause is whatever key the caller gives: a shop for its callbacks, a message for the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

WINDOW_S = 60.0
MAX_CAUSES = 10000  # the table of causes is bounded too: past it, it starts over


class LimitedLog:
    """`log.warning(cause, message, *args)`: at most one line per cause per `window_s`."""

    def __init__(self, logger: logging.Logger, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.window_s, self._clock = logger, window_s, clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def log(self, level: int, cause: Hashable, message: str, *args: object,
            exc_info: bool | BaseException | None = False) -> bool:
        """Log the line unless this cause was logged within the window; True if it was logged."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        last = self._last.get(cause)
        if last is not None and now - last < self.window_s:
            self._suppressed[cause] = self._suppressed.get(cause, 0) + 1
            return False
        if len(self._last) >= MAX_CAUSES:
            self._last.clear()
            self._suppressed.clear()
        self._last[cause] = now
        left_out = self._suppressed.pop(cause, 0)
        if left_out:
            message += " (and %d more like it in the last %d s)"
            args = (*args, left_out, round(self.window_s))
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def warning(self, cause: Hashable, message: str, *args: object,
                exc_info: bool | BaseException | None = False) -> bool:
        return self.log(logging.WARNING, cause, message, *args, exc_info=exc_info)

    def info(self, cause: Hashable, message: str, *args: object) -> bool:
        return self.log(logging.INFO, cause, message, *args)
