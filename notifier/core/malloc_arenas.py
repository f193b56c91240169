"""One malloc arena per process (glibc), for the long-lived desktop processes: the tray app and
its speech helper.

glibc gives each thread that allocates an arena of its own, up to eight per core. The app's
threads (connection, notifications, chimes, logging, the ledger's writers, Qt's D-Bus and X11
readers) each keep a partly used arena for as long as the app runs: measured after 100 orders
and a burst of 1,000, one arena instead of five to seven made the idle app 1.0 MB smaller (RSS,
two runs each; docs/benchmarks.md). The threads mostly wait, and each keeps a small cache of its
own freed blocks (tcache) that takes no lock; in the same runs the burst's time to the ledger and
the main thread's longest stall stayed within their run-to-run spread.
"""

from __future__ import annotations

import sys

M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(count: int = 1) -> bool:
    """Cap the arenas; call before the process starts its second thread. True when applied
    (glibc on Linux); elsewhere (Windows, macOS, musl) nothing happens."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_ARENA_MAX, count))
