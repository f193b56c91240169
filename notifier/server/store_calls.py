"""Store calls from the event loop, without the loop ever waiting on the network.

On a shared store (Redis, reached over the network) every call runs on a small pool of worker
threads, and the request that needs it waits at most `wait_s`: a slow or paused Redis costs those
requests a 503 after a bounded wait, while /healthz, the streams' pings and every connection that
does not need the store go on. A call whose waiter gave up before a worker took it is dropped, not
run late. (One that had started may still complete after its request was answered 503: an ingest
retried with its Idempotency-Key is then recognised, one without a key may be stored twice.)

On the embedded SQLite store the calls run inline, as they always did: each is well under a
millisecond on local disk, and storing an event and fanning it out with no thread hop between
them is what keeps a client that subscribes during its replay from missing anything (app.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

WORKERS = 16  # calls in progress at once; more wait in line (and are dropped if their waiter gives up)
WAIT_S = 2.0  # how long a request waits for the store before it answers 503


class StoreTimeout(TimeoutError):
    """The store did not answer within the wait: answered 503, like a store that is down."""


class StoreCalls:
    """`await calls(store.method, *args)`: inline on a local store, on the pool on a shared one."""

    def __init__(self, off_loop: bool, *, workers: int = WORKERS, wait_s: float = WAIT_S):
        self.off_loop = off_loop
        self.wait_s = wait_s
        self.timeouts = 0  # calls given up on, for /healthz
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="store") if off_loop else None

    async def __call__(self, fn: Callable[..., T], *args: Any, wait_s: float | None = None, **kwargs: Any) -> T:
        if self._pool is None:
            return fn(*args, **kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        # asyncio.wait, not wait_for: a TimeoutError raised by the call itself (a socket's) must
        # stay what it is, and only our own deadline is a StoreTimeout.
        done, _ = await asyncio.wait({future}, timeout=self.wait_s if wait_s is None else wait_s)
        if not done:
            future.cancel()  # a call not started yet is dropped; a started one finishes unheard
            self.timeouts += 1
            raise StoreTimeout(f"the store did not answer within {self.wait_s if wait_s is None else wait_s:g} s")
        return future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
