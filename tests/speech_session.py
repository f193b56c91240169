"""Private speech-dispatchers for tests that must stop or break one without touching the
session's.

`speechd_without_audio(folder)` starts a private speech-dispatcher (espeak-ng, the harness's
configuration) whose PulseAudio address points nowhere, and yields the environment a client needs
to use it — with PULSE_SERVER pointing nowhere too, so the client process has no sound server
either. speech-dispatcher then logs "Couldn't open pulse plugin" and never finishes a line; it
also ignores SIGTERM in that state, so it is stopped with SIGKILL (its whole process group).

`private_speechd(folder)` is the same with the session's sound: it speaks into the null sink,
and the environment it yields also names its process id (NOTIFIER_TEST_SPEECHD_PID) for tests
that freeze it (SIGSTOP).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from helpers import wait_until

HARNESS = Path(__file__).resolve().parent / "harness"


def process_tree(root: int) -> set[int]:
    """root and every process descended from it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped does not count)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def speechd_without_audio(folder: Path) -> Iterator[dict[str, str]]:
    with private_speechd(folder, audio=False) as env:
        yield env


@contextlib.contextmanager
def private_speechd(folder: Path, *, audio: bool = True) -> Iterator[dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "speechd"
    config.mkdir(exist_ok=True)
    shutil.copy(HARNESS / "speechd.conf", config / "speechd.conf")
    with contextlib.suppress(FileExistsError):
        (config / "modules").symlink_to("/etc/speech-dispatcher/modules")
    (folder / "logs").mkdir(exist_ok=True)
    sock = folder / "speechd.sock"
    nowhere = f"unix:{folder}/no-pulse/native"
    runtime = folder / "run"  # its own pid file: the session's speech-dispatcher is running too
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    sound = {} if audio else {"PULSE_SERVER": nowhere}
    env.update(sound)
    proc = subprocess.Popen(
        ["speech-dispatcher", "--run-single", "--timeout", "0", "--log-dir", str(folder / "logs"),
         "-C", str(config), "--communication-method", "unix_socket", "--socket-path", str(sock)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_until(sock.exists, 10, message="private speech-dispatcher socket")
        yield {**sound, "SPEECHD_SOCK": str(sock), "SPEECHD_ADDRESS": f"unix_socket:{sock}",
               "NOTIFIER_TEST_SPEECHD_PID": str(proc.pid)}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)  # a frozen one is killed as well
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
