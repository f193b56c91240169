"""The desktop processes keep one malloc arena however many threads allocate (glibc on Linux):
measured in a real process, against the same process without the cap. The running app itself:
tests/e2e/test_idle_imports.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import malloc_thread_arenas

# Threads that allocate (blocks over 512 bytes go to malloc), all alive at once; then the
# process prints its memory map.
THREADS = """
import sys, threading
from notifier.core.malloc_arenas import limit_malloc_arenas
if sys.argv[1] == "capped":
    assert limit_malloc_arenas()
barrier = threading.Barrier(5)
kept = []
def work():
    kept.append([bytes(4000) for _ in range(200)])
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
barrier.wait()
print(open("/proc/self/maps").read())
for thread in threads:
    thread.join()
"""


def thread_arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS, mode], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return malloc_thread_arenas(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_threads_that_allocate_share_one_arena_when_capped():
    assert thread_arenas("default") >= 2  # the check sees arenas: each thread got its own
    assert thread_arenas("capped") == 0  # the main arena (the heap) serves them all
