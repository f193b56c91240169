"""A parent that has `notifier server run` imported and forks a fresh server process per start.

The tests that SIGKILL the reference server and start it again, over and over, spent most of
their time in the new interpreter importing aiohttp and the server (≈1.2 s of CPU per start on
2 cores). Forked from this parent, each start is still a process of its own — its own store
connections, recovery, port and event loop, killed with SIGKILL by the test — but the imports
were done once (`ServerProcess` in tests/server/server_helpers.py).

Run as a script by `ServerForker`; it talks over its stdin/stdout, one JSON line per message:
  in:  {"argv": [...], "env": {...}, "cwd": "...", "stderr": "path" | null, "open_files": N | null}
  out: {"ready": pid} once the imports are done, {"started": pid} after each request, {"exited": pid, "code": returncode} when a child ends.
It has one thread (no lock can be held across a fork) and reaps its children through pidfds.
When its stdin closes (the test process is gone), it SIGKILLs what it started and exits.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import sys
import traceback


def _child(request: dict) -> None:
    """In the forked child: the fresh process `python -m notifier ...` would be, then exit."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        err = (os.open(request["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
               if request["stderr"] else devnull)
        os.dup2(err, 2)
        if request["open_files"]:
            resource.setrlimit(resource.RLIMIT_NOFILE, (request["open_files"], request["open_files"]))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from notifier.launcher import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported on the child's stderr, like an interpreter would
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    # What `notifier server run` imports, loaded once here instead of in every child.
    import notifier.cli  # noqa: F401
    import notifier.launcher  # noqa: F401
    import notifier.server.app  # noqa: F401
    import notifier.server.runner  # noqa: F401

    def say(message: dict) -> None:
        os.write(1, (json.dumps(message) + "\n").encode())

    say({"ready": os.getpid()})
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    children: dict[int, int] = {}  # pidfd -> pid
    pending = b""

    while True:
        for key, _ in selector.select():
            if key.fd == 0:
                chunk = os.read(0, 65536)
                if not chunk:
                    for pid in children.values():
                        os.kill(pid, signal.SIGKILL)
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        selector.close()
                        for pidfd in children:
                            os.close(pidfd)
                        _child(request)
                    pidfd = os.pidfd_open(pid)
                    children[pidfd] = pid
                    selector.register(pidfd, selectors.EVENT_READ)
                    say({"started": pid})
            else:
                pid = children.pop(key.fd)
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                say({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    serve()
