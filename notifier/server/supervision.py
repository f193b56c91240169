"""The server's background work (callback delivery, watching credentials, pruning, checking the
store's durability) runs for as long as the server does: a loop that raises or returns is logged
and started again, never left dead while requests keep being answered as if it ran.

Each loop is expected to handle its own everyday failures (the store down for a moment, one shop's
back end refusing); this is the backstop for what nobody foresaw, and it is why a bug in one
loop costs a log line and a pause, not every shop's callbacks until the next restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from notifier.server.log_limits import LimitedLog

log = logging.getLogger(__name__)
_limited = LimitedLog(log)

FIRST_RESTART_S = 0.5
MAX_RESTART_S = 30.0


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, first_restart_s: float = FIRST_RESTART_S) -> None:
    """Run `run()` again and again until cancelled, pausing longer after each failure in a row."""
    loop = asyncio.get_running_loop()
    pause = first_restart_s
    while True:
        started = loop.time()
        try:
            await run()
            _limited.warning((name, "returned"), "%s stopped by itself; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the backstop: any failure is logged and the loop restarts
            _limited.warning((name, "failed"), "%s failed; starting it again in %.1f s", name, pause, exc_info=True)
        if loop.time() - started > MAX_RESTART_S:
            pause = first_restart_s  # it ran well for a while: this is a new failure, not a series
        await asyncio.sleep(pause)
        pause = min(MAX_RESTART_S, pause * 2)


class Supervised:
    """Background loops started together and stopped together (for aiohttp's cleanup_ctx)."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task] = []

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self._tasks.append(asyncio.ensure_future(supervise(name, run)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
