"""Benchmark: `notifier listen` latency, idle CPU and memory (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_listener [--orders 1000] [--runs 5] [--idle 30]

Latency: from the sky-take-out double sending a type-1 frame to this script reading the
listener's JSON line from its stdout (the line includes the ledger write and the told mark of
the order before). Each run sends `--orders` frames 10 ms apart, like a busy shop's burst, first
to a bare websocket-client printer (connect, print each frame, flush: the floor for any client
in Python) and then to `notifier listen`, both on the same double, so the ratio between them is
measured under the same load. Printed per run and as median [range] over the runs, with the load
average. Idle: CPU time and resident memory of the listener process over a quiet period.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.fakes.listener_process import PROXY_VARS, ListenerProcess, skytakeout_args
from tests.fakes.skytakeout_server import SkyTakeOutDouble


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


BARE_PRINTER = """
import json, sys, websocket
ws = websocket.create_connection(sys.argv[1])
print(json.dumps({"event": "connected"}), flush=True)
while True:
    frame = ws.recv()
    sys.stdout.write(frame + "\\n")
    sys.stdout.flush()
"""


class BarePrinter(ListenerProcess):
    """A websocket-client loop that prints every frame, read the same way as the listener."""

    def __init__(self, url: str, home: Path):  # the listener's reading, another command
        home.mkdir(parents=True, exist_ok=True)
        self.stderr_path = home / "bare.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", BARE_PRINTER, url], cwd=home, env=env,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="bare-stdout", daemon=True)
        self._reader.start()


def paced_round(double: SkyTakeOutDouble, reader: ListenerProcess, count: int, id_field: str,
                gap_s: float = 0.010) -> list[float]:
    """Send `count` frames `gap_s` apart (not waiting for the lines), then match each line to
    its frame by order id: frame sent -> line read, in ms."""
    sent: dict[str, float] = {}
    mark = reader.mark()
    start = time.monotonic()
    for n in range(count):
        record = double.new_order()
        at = start + n * gap_s
        while (left := at - time.monotonic()) > 0:
            time.sleep(left)
        sent[str(record["id"])] = time.monotonic()
        double.broadcast({"type": 1, "orderId": record["id"], "content": f"订单号：{record['number']}"})
    last = str(record["id"])
    reader.wait_for(lambda o: str(o.get(id_field)) == last, 10, after=mark)
    with reader._cond:
        lines = reader.lines[mark:]
    return [(at - sent[str(o[id_field])]) * 1000 for at, o in lines if str(o.get(id_field)) in sent]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def compare(double: SkyTakeOutDouble, tmp: Path, orders: int, runs: int) -> list[float]:
    """Bare printer and listener, `runs` rounds each; prints the table, returns all listener values."""
    everything: list[float] = []
    rows = []
    with BarePrinter(double.ws_url + "bare-printer", tmp / "bare") as bare, ListenerProcess(
            skytakeout_args(double, admin=False), home=tmp / "lat", log_level="WARNING") as listener:
        listener.wait_state("connected")
        bare.wait_for(lambda o: o.get("event") == "connected")
        double.wait_for_clients(2)
        paced_round(double, bare, 20, "orderId")  # warm up both
        paced_round(double, listener, 20, "order_id")
        for run in range(runs):
            load = Path("/proc/loadavg").read_text().split()[0]
            b = paced_round(double, bare, orders, "orderId")
            ln = paced_round(double, listener, orders, "order_id")
            everything += ln
            row = (statistics.median(b), percentile(b, 99), statistics.median(ln), percentile(ln, 99),
                   max(ln), float(load))
            rows.append(row)
            print(f"run {run + 1}: {orders} orders 10 ms apart, load {load}: bare printer p50 {row[0]:.2f} "
                  f"p99 {row[1]:.2f} ms; listen p50 {row[2]:.2f} p99 {row[3]:.2f} max {row[4]:.2f} ms; "
                  f"p99 ratio {row[3] / row[1]:.2f}")
    cols = list(zip(*rows, strict=True))
    print(f"over {runs} runs, median [range]: bare printer p50 {summary(cols[0])} ms, p99 {summary(cols[1])} ms; "
          f"listen p50 {summary(cols[2])} ms, p99 {summary(cols[3])} ms, max {summary(cols[4])} ms; "
          f"p99 ratio listen/bare {summary([r[3] / r[1] for r in rows])}; load average {summary(cols[5])}")
    return everything


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per run, 10 ms apart")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measurement")
    args = parser.parse_args()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    with tempfile.TemporaryDirectory() as tmp, SkyTakeOutDouble(record_sent=False) as double:
        latencies = compare(double, Path(tmp), args.orders, args.runs)
        print(f"latency over {len(latencies)} orders (frame sent -> JSON line read): "
              f"p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
              f"max {max(latencies):.2f} ms")
        with ListenerProcess(skytakeout_args(double, admin=False), home=Path(tmp) / "idle",
                             log_level="WARNING") as idle:
            idle.wait_state("connected")
            time.sleep(2)  # past start-up
            pid = idle.proc.pid
            cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle)
            cpu = cpu_seconds(pid) - cpu_before
            wall = time.monotonic() - wall_before
            print(f"idle over {wall:.0f} s (default pings every 20 s): CPU {cpu:.2f} s "
                  f"= {100 * cpu / wall:.3f} % of one core, RSS {rss_kib(pid) / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
