"""The desktop processes keep one malloc arena however many threads allocate (glibc on Linux):
measured in a real process, against the same process without the cap."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Threads that allocate (blocks over 512 bytes go to malloc), all alive at once; then the
# process counts glibc's thread arenas: each is a 64 MiB aligned reservation.
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
arenas = 0
lines = open("/proc/self/maps").read().splitlines()
for line, after in zip(lines, lines[1:]):
    start, end = (int(x, 16) for x in line.split()[0].split("-"))
    end2 = int(after.split()[0].split("-")[1], 16)
    if start % (64 << 20) == 0 and line.split()[1] == "rw-p" and after.split()[1] == "---p" \\
            and end2 - start == 64 << 20 and len(line.split()) == 5:
        arenas += 1
print(arenas)
for thread in threads:
    thread.join()
"""


def thread_arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS, mode], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_threads_that_allocate_share_one_arena_when_capped():
    assert thread_arenas("default") >= 2  # the check sees arenas: each thread got its own
    assert thread_arenas("capped") == 0  # the main arena (the heap) serves them all
