"""One worker for everything a shop asks of one back end: every request goes through one queue and
is sent by one thread, in order of urgency, so the back end sees one client with one login.

Why one thread and not a lock: the admin API's client (its token, its re-login) is not
thread-safe, and three threads taking turns on a lock (the pull, the details of a new order, an
accept) made a slow pull hold up an accept, and cost two threads that mostly slept. Here a new
order's details go first, then the shop's decisions, then the routine pull; `on_idle` runs
between requests (at least every `idle_s`) for work that is due by the clock (the periodic pull).

A request is a function of the back end's API object, run on the worker: `submit` returns a
`Future`, `call` waits for its result (or its exception). Stopping fails whatever is still
queued with `ConnectionAbortedError`, which callers treat like the back end being offline.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

API = TypeVar("API")

# Lower goes first.
DETAILS = 0  # a new order's details: the voice line and the ticket wait for them
DECISION = 1  # accept, reject (and, later, delivery, complete, cancel, open/close the shop)
ROUTINE = 2  # the pull of waiting orders, the status poll

IDLE_S = 1.0


class BackEndClient(Generic[API]):
    def __init__(self, api: API, name: str, on_idle: Callable[[], None] = lambda: None,
                 idle_s: float = IDLE_S):
        self.api = api
        self.name = name
        self._on_idle = on_idle
        self._idle_s = idle_s
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within one urgency
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- for the owner -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._queue.put((-1, next(self._order), None, None))
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._fail_waiting()

    @property
    def on_worker(self) -> bool:
        return threading.current_thread() is self._thread

    # -- for callers ---------------------------------------------------------------------

    def submit(self, request: Callable[[API], Any], priority: int = ROUTINE) -> Future:
        """Queue `request(api)` for the worker; its result (or exception) comes in the future."""
        future: Future = Future()
        if self._stopping.is_set():
            future.set_exception(ConnectionAbortedError("the connection is being closed"))
            return future
        self._queue.put((priority, next(self._order), request, future))
        return future

    def call(self, request: Callable[[API], Any], priority: int = ROUTINE,
             timeout: float | None = None) -> Any:
        """Run `request(api)` on the worker and return what it returned (or raise what it raised).
        On the worker itself it runs at once: a request may make another."""
        if self.on_worker:
            return request(self.api)
        return self.submit(request, priority).result(timeout)

    def wake(self) -> None:
        """Run `on_idle` now rather than at the next idle tick."""
        self._queue.put((ROUTINE, next(self._order), None, None))

    # -- the worker ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                _priority, _n, request, future = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                request = future = None
            if self._stopping.is_set():
                break
            if request is not None and future.set_running_or_notify_cancel():
                try:
                    future.set_result(request(self.api))
                except BaseException as exc:  # noqa: BLE001 - it belongs to the caller
                    future.set_exception(exc)
            try:
                self._on_idle()
            except Exception:  # noqa: BLE001 - the worker must survive anything
                log.exception("%s: periodic work failed", self.name)
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        while True:
            try:
                _p, _n, request, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None and not future.done():
                future.set_exception(ConnectionAbortedError("the connection is being closed"))
