"""Keeping Python's full garbage collections short in a server that holds thousands of streams.

A full collection walks every object that survived the younger ones, with the event loop
stopped: with 2,000 open streams that takes 70-140 ms on two cores, and CPython starts one each
time the survivors grow by a quarter, which is exactly what a crowd of shop PCs reconnecting
after a restart makes happen. Those collections find nothing (a stream's objects are freed by
reference counting when it ends), but every event published meanwhile waits.

So what exists when the server starts is frozen at once (`gc.freeze`: left out of later
collections), and so are the survivors of every full collection that found (almost) nothing:
the next full collections walk only what came since. Every THAW_EVERY_S they are let back in,
so that a reference cycle which did become garbage among them is still collected in the end:
one long pause per half hour at most, instead of one for every quarter of growth.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FOUND_LITTLE = 1000  # objects a full collection may free and still count as "found nothing"
THAW_EVERY_S = 1800.0


class QuietFullCollections:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._thawed_at = clock()
        self.frozen_times = 0

    def install(self) -> None:
        """Call once the server is set up: what exists by then (modules, code, the app) lives as
        long as the process, so it is collected once and frozen at once."""
        gc.collect()
        gc.freeze()
        if self._after_collection not in gc.callbacks:
            gc.callbacks.append(self._after_collection)

    def uninstall(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        gc.unfreeze()

    def _after_collection(self, phase: str, info: dict) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        now = self._clock()
        if now - self._thawed_at >= THAW_EVERY_S:
            gc.unfreeze()  # the next full collection walks everything once more
            self._thawed_at = now
        elif info.get("collected", 0) <= FOUND_LITTLE:
            gc.freeze()
            self.frozen_times += 1
