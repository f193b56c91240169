"""Benchmark: the WebSocket transport's cost per frame and its memory at import (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_ws_transport [--old PATH] [--frames 200] [--runs 5]

Frame -> handle_text: a raw server in this process sends one small JSON text frame at a time,
stamping the monotonic clock just before `sendall`; a client process (a `JsonMappingSource`
whose `handle_text` stamps the same clock on entry) records when it got it. Two clients run at
once, each in its own process: this checkout's code and the code at `--old` (a worktree of the
version to compare with, e.g. `git worktree add --detach /tmp/old main`), and the frames go to
them in turn, so both see the same machine load. "cold": frames `--cold-gap` s apart (the
reader thread asleep in select, caches cold: a shop's usual order); "warm": `--warm-gap` s apart.

Memory: VmRSS of a bare `python -c "import notifier.core.sources.websocket_base"` for each
checkout, `--runs` times, with the modules of OpenSSL it has loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "chaos"))
sys.path.insert(0, str(ROOT / "tests"))

CLIENT = r"""
import json, sys, time
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.json_mapping import JsonMappingSource

def handle_text(self, text):
    stamp = time.monotonic_ns()
    sys.stdout.write(f"{json.loads(text)['order_id']} {stamp}\n")
    sys.stdout.flush()

JsonMappingSource.handle_text = handle_text
source = JsonMappingSource(Settings({"connection.protocol": "json", "connection.url": sys.argv[1]}),
                           None, lambda status: None, MemorySecrets({}))
source.start()
sys.stdin.read()  # until the benchmark closes it
source.stop()
"""

MEMORY = r"""
import sys
import notifier.core.sources.websocket_base
rss = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(rss, ",".join(m for m in ("ssl", "_ssl", "_hashlib", "websocket") if m in sys.modules) or "-")
"""


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ms ({min(values):.3f}-{max(values):.3f}, p90 {sorted(values)[int(len(values) * 0.9)]:.3f})"


def env_for(code: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env["PYTHONPATH"] = str(code)
    return env


def memory(code: Path, runs: int) -> tuple[list[int], str]:
    values, loaded = [], ""
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", MEMORY], cwd=code, env=env_for(code), capture_output=True,
                             text=True, check=True).stdout.split()
        values.append(int(out[0]))
        loaded = out[1]
    return values, loaded


class Client:
    def __init__(self, name: str, code: Path, url: str):
        self.name = name
        self.received: dict[int, int] = {}
        self.proc = subprocess.Popen([sys.executable, "-c", CLIENT, url], cwd=code, env=env_for(code),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            number, stamp = line.split()
            self.received[int(number)] = int(stamp)

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def accept_client(listener: socket.socket) -> tuple[str, socket.socket]:
    """Accept one client and answer its upgrade; (the path it asked for, its socket)."""
    from chaos_support import accept_key

    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    request, *lines = head.decode("latin-1").split("\r\n")
    key = next(line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("sec-websocket-key:"))
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
    return request.split(" ")[1].strip("/"), conn


def serve(frames: int, gaps: dict[str, float], old: Path) -> None:
    from chaos_support import text_frame

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    clients = {name: Client(name, code, f"ws://127.0.0.1:{port}/{name}") for name, code in (("old", old), ("new", ROOT))}
    conns = dict(accept_client(listener) for _ in clients)
    time.sleep(1.0)  # both clients past their on_open
    try:
        for mode, gap in gaps.items():
            base = {"cold": 0, "warm": 1_000_000}[mode]
            sent: dict[str, list[int]] = {name: [] for name in clients}
            for n in range(frames):
                for name, conn in conns.items():
                    frame = text_frame(json.dumps({"order_id": base + n, "order_amount": 10}).encode())
                    sent[name].append(time.monotonic_ns())
                    conn.sendall(frame)
                    time.sleep(gap / 2)
            time.sleep(0.5)
            for name, client in clients.items():
                latencies = [(client.received[base + n] - sent[name][n]) / 1e6
                             for n in range(frames) if base + n in client.received]
                print(f"  {mode:4} frame -> handle_text, {name}: {summary(latencies)} over {len(latencies)} frames "
                      f"({gap * 1000:g} ms apart)")
    finally:
        for client in clients.values():
            client.stop()
        for conn in conns.values():
            conn.close()
        listener.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--cold-gap", type=float, default=0.3)
    parser.add_argument("--warm-gap", type=float, default=0.002)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    for name, code in (("old", args.old), ("new", ROOT)):
        values, loaded = memory(code, args.runs)
        print(f"  import websocket_base, {name}: VmRSS median {statistics.median(values) / 1024:.1f} MiB "
              f"({min(values) / 1024:.1f}-{max(values) / 1024:.1f}) over {len(values)} runs; loaded: {loaded}")
    serve(args.frames, {"cold": args.cold_gap, "warm": args.warm_gap}, args.old)
    print(f"load average after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
