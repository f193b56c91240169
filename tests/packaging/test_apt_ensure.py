"""packaging/tools/apt-ensure, what tests/run and packaging/run-demo install Debian packages with:
a missing package is installed or named in one sentence (it used to end the script silently,
dpkg-query's status under `set -o pipefail`), and a busy apt is waited for, saying so, for a
bounded time. Real apt and dpkg; the only package asked for that is not installed is one that
no archive has, so nothing on the machine changes."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "tools" / "apt-ensure"
UNKNOWN = "order-notifier-no-such-package"

pytestmark = [pytest.mark.packaging, pytest.mark.needs_system("apt")]


def ensure(*packages: str, wait: int = 300, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--as", "check", *packages], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "APT_ENSURE_LOCK_WAIT": str(wait)})


@pytest.fixture
def debian(require):
    require(shutil.which("dpkg-query") is not None and shutil.which("apt-get") is not None,
            "needs dpkg and apt (Debian/Ubuntu)")
    require(os.geteuid() == 0, "installs with apt-get: needs root")


def test_present_packages_are_only_checked(debian):
    done = ensure("bash", "dpkg")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("check: system packages present")


def test_a_package_that_cannot_be_installed_is_named_in_one_sentence(debian):
    done = ensure("bash", UNKNOWN)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"check: installing the missing Debian packages: {UNKNOWN}"
    assert lines[-1].startswith(f"check: could not install the Debian packages {UNKNOWN} (apt-get: E: ")
    assert lines[-1].endswith(f"install them by hand: apt-get install {UNKNOWN}")


def test_a_busy_apt_is_waited_for_then_given_up_on_naming_who_holds_it(debian):
    # Another package manager holds dpkg's frontend lock (an fcntl lock, as apt takes it).
    with open("/var/lib/dpkg/lock-frontend", "w") as lock:
        try:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pytest.skip("a real package manager is running")
        done = ensure(UNKNOWN, wait=2, timeout=60)
    assert done.returncode == 1
    pid = os.getpid()
    assert f"(pid {pid}), is using apt; waiting up to 2 s for it to finish." in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"check: cannot install {UNKNOWN}: ")
    assert f"(pid {pid}) still held the apt lock after 2 s" in done.stderr
