"""Benchmark: `notifier listen` latency, idle CPU and memory (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_listener [--orders 1000] [--idle 30]

Latency: from the sky-take-out double sending a type-1 frame to this script reading the
listener's JSON line from its stdout (orders sent one at a time; the line includes the ledger
write). Idle: CPU time and resident memory of the listener process over a quiet period, from /proc.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.fakes.listener_process import ListenerProcess, skytakeout_args
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


def measure_latency(double: SkyTakeOutDouble, listener: ListenerProcess, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        record = double.new_order()
        mark = listener.mark()
        sent_at = time.monotonic()
        double.broadcast({"type": 1, "orderId": record["id"], "content": f"订单号：{record['number']}"})
        read_at, _line = listener.wait_for(lambda o, i=str(record["id"]): o.get("order_id") == i, 10, after=mark)
        latencies.append((read_at - sent_at) * 1000)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measurement")
    args = parser.parse_args()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    with tempfile.TemporaryDirectory() as tmp, SkyTakeOutDouble(record_sent=False) as double:
        with ListenerProcess(skytakeout_args(double, admin=False), home=Path(tmp) / "lat",
                             log_level="WARNING") as listener:
            listener.wait_state("connected")
            double.wait_for_clients()
            measure_latency(double, listener, 20)  # warm up
            latencies = measure_latency(double, listener, args.orders)
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
