"""A real, private Secret Service for subprocesses: a session D-Bus and an unlocked
gnome-keyring-daemon in a temporary directory. Not a fake keyring: the listener subprocess reads
its admin password through `keyring` exactly as on a shop PC."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.listener_process import REPO


class KeyringSession:
    def __init__(self, root: Path, *, login_keyring: bool = True):
        if not (shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon")):
            raise RuntimeError("dbus-daemon and gnome-keyring-daemon are needed")
        self.root = root
        runtime = root / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        base = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
        base.update(XDG_RUNTIME_DIR=str(runtime), XDG_DATA_HOME=str(root / "data"), HOME=str(root))
        self._procs: list[subprocess.Popen] = []
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._procs.append(bus)
        address = bus.stdout.readline().strip()
        if not address:
            self.close()
            raise RuntimeError("dbus-daemon gave no address")
        self.env = {"DBUS_SESSION_BUS_ADDRESS": address}
        # Without --unlock (login_keyring=False) the daemon starts with no keyring at all, as on
        # an account that never had one.
        unlock = ["--unlock"] if login_keyring else []
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", *unlock, "--components=secrets"],
            env=dict(base, **self.env), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._procs.append(daemon)
        if login_keyring:
            daemon.stdin.write(b"test-keyring-password")
        daemon.stdin.close()

    def set_secret(self, name: str, value: str, *, timeout: float = 10.0) -> None:
        """Save a secret through the real CLI (`notifier secret set NAME`, value on stdin)."""
        env = dict(os.environ, **self.env, PYTHONPATH=str(REPO))
        deadline = time.monotonic() + timeout
        while True:  # the daemon takes a moment to claim its bus name
            done = subprocess.run([sys.executable, "-m", "notifier", "secret", "set", name],
                                  input=value + "\n", text=True, capture_output=True, env=env, cwd=REPO,
                                  timeout=timeout)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not save the secret: {done.stderr[-500:]}")
            time.sleep(0.1)

    def lock(self) -> None:
        """Lock the login collection, as the desktop does after a timeout (secretstorage, from outside)."""
        code = ("import secretstorage; c = secretstorage.dbus_init(); "
                "col = secretstorage.get_default_collection(c); col.lock(); assert col.is_locked()")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=20, env=dict(os.environ, **self.env))

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stdout:
                proc.stdout.close()
        self._procs.clear()
