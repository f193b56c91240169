"""Benchmark: one healthy connection's latency beside a broken one (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_connections [--orders 200] [--runs 3]
    dbus-run-session -- tests/harness/desktop-session .venv/bin/python \
        -m tests.benchmarks.bench_connections [--tray-orders 40]   # adds the tray app's numbers

Latency from the JSON double sending an order frame to this script reading `notifier listen`'s
line for it (ledger write and told mark included), on the healthy connection "美团". Each run
measures, on the same double and one after the other: the listener with that one connection
(the baseline), then with a second connection "总店" whose server accepts each WebSocket and
closes it at once, so that connection reconnects in a tight loop the whole time. Printed per run
and as median [range] over the runs of p50 and p99, with the load average and how many times
the broken connection reconnected.

Inside the harness session it then does the same for the tray app (`--only tray`: that part
alone): frame sent by a WebSocket server (bench_desktop's FrameServer) → the Notify call on the
session bus, stamped by the notification recorder (the desktop benchmark's way), on "美团", orders
0.4-0.6 s apart (so each gets its own popup, not a burst summary) while the voice speaks; again
the app with that one connection, then with "总店" reconnecting in a tight loop beside it, in
turn within each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web

from notifier.core.connections import Connection, with_connections
from notifier.core.settings import Settings
from notifier.core.settings_file import save
from tests.benchmarks.bench_desktop import (
    ROOT,
    FrameServer,
    NotifyTail,
    order,
    stop,
    wait,
    wait_for_speech,
)
from tests.fakes.listener_process import ListenerProcess
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import free_port


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class SlammingServer:
    """Accepts every WebSocket and closes it at once: a connection that never stays up."""

    def __init__(self):
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _ws(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.accepted += 1
        await ws.close()
        return ws

    def _run(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._ws)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def close(self):
        async def stop():
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def measure(double: SkyTakeOutDouble, config: Path, home: Path, orders: int, first_id: int) -> list[float]:
    with ListenerProcess(["--config", str(config)], home=home, log_level="WARNING") as listener:
        listener.wait_for(lambda o: o.get("event") == "connection" and o.get("connection") == "美团"
                          and o["state"] == "connected", 20)
        double.wait_for_clients()
        sent: dict[str, float] = {}
        for n in range(orders):
            order_id = str(first_id + n)
            sent[order_id] = time.monotonic()
            double.send_text(f'{{"order_id": {order_id}, "order_amount": 10}}')
            time.sleep(0.01)
        listener.wait_orders(orders, timeout=60)
        with listener._cond:
            lines = list(listener.lines)
    return [(at - sent[o["order_id"]]) * 1000 for at, o in lines
            if o.get("event") == "order" and o["order_id"] in sent]


def measure_tray(server: FrameServer, tail: NotifyTail, config: Path, home: Path, orders: int,
                 first_id: int) -> list[float]:
    """Frame → Notify on the bus (ms) for `orders` orders on the tray app run with `config`."""
    home.mkdir(parents=True)
    before = len(server.connected_at)
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "--config", str(config), "--log-level", "INFO"],
                            cwd=ROOT, env={**os.environ, "NOTIFIER_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=(home / "stderr.log").open("w"))
    try:
        wait(lambda: len(server.connected_at) > before and server.clients, 30, "the tray app to connect")
        wait_for_speech(home)
        rng = random.Random(first_id)
        latencies = []
        for number in range(first_id, first_id + orders):
            after = tail.poll()
            stamp = server.send([order(number)])[0]
            latencies.append((tail.wait_for(f"#{number}", after)["t_mono_ns"] - stamp) / 1e6)
            time.sleep(rng.uniform(0.4, 0.6))
    finally:
        stop(proc)
        wait(lambda: not server.clients, 10, "the tray app to disconnect")
    return latencies


def report(title: str, results: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\n{title}; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, values in results.items():
        p50s, p99s = [v[0] for v in values], [v[1] for v in values]
        print(f"{label:20s} p50 median {statistics.median(p50s):6.2f} ms [{min(p50s):.2f}–{max(p50s):.2f}]  "
              f"p99 median {statistics.median(p99s):6.2f} ms [{min(p99s):.2f}–{max(p99s):.2f}]")


def compare(runs: int, healthy: Connection, broken: Connection, work: str, slammer: SlammingServer,
            what: str, measure_one) -> dict[str, list[tuple[float, float]]]:
    """`runs` runs, each measuring `healthy` alone and then beside `broken`; measure_one(config,
    home, first_id) -> latencies (ms)."""
    results: dict[str, list[tuple[float, float]]] = {"one connection": [], "beside a broken one": []}
    alone, beside = Path(work, f"{what}-alone.toml"), Path(work, f"{what}-beside.toml")
    save(with_connections(Settings(), (healthy,)), alone)
    save(with_connections(Settings(), (healthy, broken)), beside)
    next_id = 1_000_000 if what == "tray" else 1
    for run in range(runs):
        for label, config in (("one connection", alone), ("beside a broken one", beside)):
            before = slammer.accepted
            started = time.monotonic()
            latencies = measure_one(config, Path(work, f"{what}-home-{run}-{len(label)}"), next_id)
            next_id += len(latencies)
            reconnects = (slammer.accepted - before) / (time.monotonic() - started)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            results[label].append((p50, p99))
            print(f"{what} run {run + 1} {label:20s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                  f"(broken one reconnected {reconnects:.1f}/s)  load {os.getloadavg()[0]:.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--tray-orders", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("listen", "tray"))
    args = parser.parse_args()
    in_session = bool(os.environ.get("NOTIFIER_TEST_SESSION"))
    if args.only == "tray" and not in_session:
        raise SystemExit("the tray numbers need the harness session (tests/harness/desktop-session)")
    print(f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    slammer = SlammingServer()
    broken = Connection("c2", "总店", "#2a9d8f").with_values(
        {"connection.protocol": "json", "connection.url": f"ws://127.0.0.1:{slammer.port}/x"})
    try:
        with tempfile.TemporaryDirectory() as work:
            if args.only != "tray":
                with SkyTakeOutDouble() as double:
                    healthy = Connection("c1", "美团").with_values(
                        {"connection.protocol": "json", "connection.url": double.ws_url + "mt"})
                    listened = compare(args.runs, healthy, broken, work, slammer, "listen",
                                       lambda config, home, first: measure(double, config, home, args.orders, first))
                report(f"notifier listen: {args.orders} orders 10 ms apart, {args.runs} runs", listened)
            if args.only == "tray" or (args.only is None and in_session):
                server = FrameServer()
                tail = NotifyTail(Path(os.environ["NOTIFIER_TEST_NOTIFY_LOG"]))
                healthy = Connection("c1", "美团").with_values(
                    {"connection.protocol": "json", "connection.url": f"ws://127.0.0.1:{server.port}/"})
                trayed = compare(args.runs, healthy, broken, work, slammer, "tray",
                                 lambda config, home, first: measure_tray(server, tail, config, home,
                                                                          args.tray_orders, first))
                report(f"tray app, frame → Notify on the bus: {args.tray_orders} orders 0.4-0.6 s apart, "
                       f"{args.runs} runs", trayed)
    finally:
        slammer.close()


if __name__ == "__main__":
    main()
