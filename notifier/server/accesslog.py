"""One JSON object per request on the `notifier.server.access` logger, with no secrets in it.

aiohttp's default access line carries the full request line, and `?token=` would end up in the
log; here the query keeps only the parameters known to be harmless.

Nor may the log become a way to fill the server's disk: lines that repeat (same remote address
and status) are limited to LINES_PER_KEY per WINDOW_S, and all lines to LINES_PER_WINDOW; the
first line after a window says how many were left out (`"suppressed": n`). Paths and agents are
cut short.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = logging.getLogger("notifier.server.access")
SAFE_QUERY_KEYS = frozenset({"after", "store"})
WINDOW_S = 10.0
LINES_PER_KEY = 20
LINES_PER_WINDOW = 500
MAX_PATH = 200


class RepeatLimiter:
    """Counts lines per key and in total within a fixed window; says what to drop."""

    def __init__(self, per_key: int = LINES_PER_KEY, total: int = LINES_PER_WINDOW, window_s: float = WINDOW_S,
                 clock=time.monotonic):
        self.per_key, self.total, self.window_s, self._clock = per_key, total, window_s, clock
        self._window_start = clock()
        self._counts: dict[tuple, int] = {}
        self._lines = 0
        self.suppressed = 0  # dropped in the current window, reported with the next line let through

    def allow(self, key: tuple) -> tuple[bool, int]:
        """(log this line?, lines suppressed since the last one logged — to report with it)."""
        now = self._clock()
        if now - self._window_start >= self.window_s:
            self._window_start, self._counts, self._lines = now, {}, 0
        count = self._counts.get(key, 0)
        if count >= self.per_key or self._lines >= self.total:
            self.suppressed += 1
            return False, 0
        if len(self._counts) < 4 * self.total:  # the table of keys is bounded too
            self._counts[key] = count + 1
        self._lines += 1
        reported, self.suppressed = self.suppressed, 0
        return True, reported


LIMITER = RepeatLimiter()  # one per process: aiohttp makes an access logger per connection


def access_record(request: BaseRequest, response: StreamResponse, seconds: float) -> dict:
    query = {k: v[:80] for k, v in request.query.items() if k in SAFE_QUERY_KEYS}
    return {
        "remote": request.remote,
        "method": request.method,
        "path": request.path[:MAX_PATH],
        "query": query or None,
        "status": response.status,
        "bytes": response.body_length,
        "ms": round(seconds * 1000, 1),
        "agent": (request.headers.get("User-Agent") or "")[:80] or None,
    }


class JsonAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        allowed, suppressed = LIMITER.allow((request.remote, response.status))
        if not allowed:
            return
        record = access_record(request, response, time)
        if suppressed:
            record["suppressed"] = suppressed
        self.logger.info(json.dumps(record, ensure_ascii=False))

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
