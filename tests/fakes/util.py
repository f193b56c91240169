"""Waiting and port helpers for the fakes: the shared ones from tests/helpers.py, importable both
under pytest (tests/conftest.py puts tests/ on sys.path) and from the repository root (the double
run as `python -m tests.fakes.skytakeout_server`, the benchmarks)."""

from __future__ import annotations

try:
    from helpers import free_port, wait_until
except ImportError:
    from tests.helpers import free_port, wait_until

__all__ = ["free_port", "wait_until"]
