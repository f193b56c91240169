"""Waiting and port helpers for the fakes: the shared ones from tests/helpers.py, with a local
fallback so the fakes also work on their own (the double as a subprocess, the benchmarks)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _local_wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01,
                      message: str = "") -> T:
    """Poll `predicate` until it returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


def _local_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


try:  # the shared helpers (tests/ is on sys.path under pytest: tests/conftest.py puts it there)
    from helpers import free_port, wait_until
except ImportError:
    try:  # run as scripts from the repository root (benchmarks)
        from tests.helpers import free_port, wait_until
    except ImportError:  # pragma: no cover - a tree without the shared helpers
        wait_until, free_port = _local_wait_until, _local_free_port

__all__ = ["free_port", "wait_until"]
