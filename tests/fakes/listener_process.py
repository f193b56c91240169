"""`notifier listen` as a real subprocess, its JSON lines collected as they are printed.

Used by the end-to-end tests and the latency benchmark: each line is kept with the monotonic
time it was read, so a test can wait for a line and a benchmark can time it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.fakes.util import wait_until

REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def skytakeout_args(double, *, admin: bool = True, ping: tuple[int, int] | None = None,
                    extra: Iterable[str] = ()) -> list[str]:
    args = ["--protocol", "skytakeout", "--url", double.ws_url]
    if admin:
        args += ["--admin-url", double.admin_url, "--admin-user", "admin"]
    if ping:
        args += ["--set", f"connection.ping_interval={ping[0]}", "--set", f"connection.ping_timeout={ping[1]}"]
    return args + list(extra)


class ListenerProcess:
    def __init__(self, args: list[str], *, home: Path, env: dict[str, str] | None = None,
                 log_level: str = "INFO"):
        full_env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        full_env.update(env or {})
        full_env.update(NOTIFIER_HOME=str(home), PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
        self.stderr_path = home / f"listener-{time.monotonic_ns()}.stderr"
        home.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "listen", "--log-level", log_level, *args],
            cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="listener-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            at = time.monotonic()
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"event": "not-json", "line": raw.decode("utf-8", "replace")}
            with self._cond:
                self.lines.append((at, obj))
                self._cond.notify_all()

    # -- reading ---------------------------------------------------------------------------

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [obj for _at, obj in self.lines if obj.get("event") == kind]

    def orders(self) -> list[dict[str, Any]]:
        return self.events("order")

    def states(self) -> list[str]:
        return [obj["state"] for obj in self.events("connection")]

    def state(self) -> str | None:
        states = self.states()
        return states[-1] if states else None

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                 after: int = 0) -> tuple[float, dict[str, Any]]:
        """The first line from index `after` on for which `predicate` holds, with its read time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = after
            while True:
                while index < len(self.lines):
                    at, obj = self.lines[index]
                    index += 1
                    if predicate(obj):
                        return at, obj
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no matching line within {timeout} s; got {[o for _a, o in self.lines][-10:]}; "
                        f"stderr tail: {self.stderr()[-1500:]}"
                    )
                self._cond.wait(min(left, 0.5))

    def wait_state(self, state: str, timeout: float = 10.0, after: int = 0) -> float:
        at, _obj = self.wait_for(lambda o: o.get("event") == "connection" and o.get("state") == state,
                                 timeout, after)
        return at

    def wait_orders(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return wait_until(lambda: len(self.orders()) >= count and self.orders(), timeout,
                          message=f"expected {count} orders, got {self.orders()}")

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text("utf-8", "replace")

    # -- ending ----------------------------------------------------------------------------

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> ListenerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
