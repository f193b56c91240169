"""Long builds inside tests: their own time budget, their own process group, nothing left behind.

A build script starts a tree of programs (PyInstaller, build-deb.sh, dpkg-deb, xz). Killing only
the script when a timeout fires leaves the rest running as orphans that slow every later test. So
the build runs in a new session (its own process group), and on its own timeout, on pytest's
timeout (which raises into the waiting test) or on Ctrl+C, the whole group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

# A budget, not an estimate: the bundle and the .deb take ~1 min on an idle 2-core machine and
# were seen taking 3-4x that while other test runs and builds shared the cores.
BUILD_BUDGET_S = 900
# What the tests that build get from pytest-timeout: the build plus the slowest step after it.
BUILD_TEST_TIMEOUT_S = BUILD_BUDGET_S + 300


class BuildTimedOut(AssertionError):
    """The build ran past its budget; its whole process group was killed."""


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(5)
            # The leader is gone; the group may still hold its children: make sure.
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.2)


def run_build(cmd: list[str], budget_s: float = BUILD_BUDGET_S, **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd` with captured text output, killing its whole process group after `budget_s`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)
    try:
        stdout, stderr = proc.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        raise BuildTimedOut(f"{cmd[0]} ran longer than {budget_s:.0f} s and was stopped with its "
                            f"whole process group; its last output:\n{stderr[-3000:]}") from None
    except BaseException:  # pytest-timeout, Ctrl+C: the test ends, and so does the build
        _kill_group(proc)
        proc.communicate()
        raise
    finally:
        # Children the script left running after it exited belong to the group too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
