"""Desktop benchmark: prints the issue-4 numbers. Run inside the harness session:

    bash tests/run --co -q   # (builds the session once)
    dbus-run-session -- tests/harness/desktop-session python tests/benchmarks/bench_desktop.py

Measured the way the issue asks: process start -> the server sees the WebSocket (launch to
connected); frame sent by the server -> Notify call arriving on the session bus (the recorder's
CLOCK_MONOTONIC stamp; same clock in both processes); idle RSS and CPU from /proc; a 1,000-order
burst while pinging the app's main thread through its single-instance socket every 10 ms (the
longest round trip bounds the longest main-thread stall). The server is a minimal JSON-over-
WebSocket server (the app's `json` protocol) so the send instant is known to the nanosecond.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


class FrameServer:
    """aiohttp WebSocket server on a free port; sends what `send` is given and stamps it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.clients: list = []
        self.connected_at: list[int] = []
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=self._main, daemon=True).start()
        self._ready.wait(10)

    def _main(self) -> None:
        from aiohttp import web

        async def handler(request):
            ws = web.WebSocketResponse(autoping=True)
            self.connected_at.append(time.monotonic_ns())
            await ws.prepare(request)
            self.clients.append(ws)
            async for _ in ws:
                pass
            self.clients.remove(ws)
            return ws

        async def start():
            app = web.Application()
            app.router.add_get("/", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            self._ready.set()

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def send(self, messages: list[dict], spacing: float = 0.0) -> list[int]:
        """Send each message to every client; returns the monotonic ns just before each send."""

        async def go():
            stamps = []
            for message in messages:
                text = json.dumps(message, ensure_ascii=False)
                stamps.append(time.monotonic_ns())
                for ws in list(self.clients):
                    await ws.send_str(text)
                if spacing:
                    await asyncio.sleep(spacing)
            return stamps

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(600)


def wait_for_speech(home: Path) -> None:
    """Steady state: the app's speech helper (its own process) has started and spoken its silent
    probe line; measure after that, as a shop's orders arrive."""
    def settled() -> bool:
        log_text = (home / "stderr.log").read_text(errors="replace")
        return "speech helper ready" in log_text or "voice unavailable" in log_text
    try:
        wait(settled, 15, "the speech engine to open")
    except SystemExit as exc:  # no speech on this machine: measure anyway
        print(f"({exc})")


def start_app(home: Path, port: int, *extra: str) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "NOTIFIER_HOME": str(home)}
    t0 = time.monotonic_ns()
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "--protocol", "json", "--url", f"ws://127.0.0.1:{port}/",
         "--set", "general.language=zh_CN", "--log-level", "INFO", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(home / "stderr.log").open("w"),
    )
    return proc, t0


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.002)
    return value


def order(n: int) -> dict:
    return {"order_id": str(n), "order_number": str(n), "order_amount": 56.5, "customer_name": "张三"}


def notify_entries(log_path: Path) -> list[dict]:
    try:
        lines = log_path.read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    return cpu, rss_kb * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared libraries counted once across the processes sharing them."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")) * 1024


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def sound_onsets(path: Path, threshold: float = 0.02, window_ms: int = 10) -> list[float]:
    """Seconds at which sound starts after at least 150 ms of silence, in a 16-bit WAV."""
    import array
    import wave

    with wave.open(str(path), "rb") as recording:
        rate, channels = recording.getframerate(), recording.getnchannels()
        samples = array.array("h", recording.readframes(recording.getnframes()))
    step = rate * channels * window_ms // 1000
    onsets, quiet = [], 1000
    for i in range(0, len(samples) - step, step):
        loud = max(abs(v) for v in samples[i:i + step]) > threshold * 32767
        if loud and quiet >= 150:
            onsets.append(i / (rate * channels))
        quiet = 0 if loud else quiet + window_ms
    return onsets


def first_order_after_launch(server, notify_log: Path, runs: int) -> None:
    """The issue's case: the first order comes 2.5 s after launch, while the voice is starting.
    Frame -> Notify for it, and when its words begin after its chime (null-sink recording)."""
    from helpers import AudioRecorder

    from notifier.desktop.sounds import chime_path, wav_length_ms

    chime_s = wav_length_ms(chime_path("new_order")) / 1000
    notified, words_after_chime = [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as home_dir:
            home = Path(home_dir)
            proc, t0 = start_app(home, server.port, "--set", "alerts.repeat_interval=0")
            wait(lambda: server.clients, 20, "connection")
            recorder = AudioRecorder(home, "first.wav").start()
            time.sleep(max(0.0, 2.5 - (time.monotonic_ns() - t0) / 1e9))
            mark = len(notify_entries(notify_log))
            number = 3_000_000 + run
            stamp = server.send([order(number)])[0]
            entry = wait(lambda n=number, m=mark: next((e for e in notify_entries(notify_log)[m:]
                                                        if e["summary"].endswith(f"#{n}")), None),
                         20, "notification")
            notified.append((entry["t_mono_ns"] - stamp) / 1e6)
            time.sleep(6.0)  # chime and the first words
            onsets = sound_onsets(recorder.stop())
            stop(proc)
            wait(lambda: not server.clients, 10, "disconnect")
            # The words: the first sound starting once the chime is over (the chime itself has
            # short pauses between its notes).
            words = [t for t in onsets[1:] if onsets and t >= onsets[0] + chime_s * 0.9]
            if words:
                words_after_chime.append(words[0] - onsets[0])
    print(f"first order 2.5 s after launch (voice starting): frame -> Notify median "
          f"{statistics.median(notified):.1f} ms, max {max(notified):.1f} ms over {runs} launches")
    if words_after_chime:
        print(f"  its words begin after its chime starts: median {statistics.median(words_after_chime):.2f} s, "
              f"range {min(words_after_chime):.2f}-{max(words_after_chime):.2f} s "
              f"(chime {chime_s:.2f} s long; {len(words_after_chime)} of {runs} runs heard both)")


def main_thread_pinger(name: str, stop_flag: threading.Event, out: list[float]) -> None:
    """Round trips through the app's single-instance socket (answered on its main thread)."""
    from notifier.desktop.single_instance import socket_path

    path = socket_path(name)
    while not stop_flag.is_set():
        started = time.perf_counter()
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(b"ping\n")
                sock.recv(16)
        except OSError:
            pass
        else:
            out.append((time.perf_counter() - started) * 1000)
        stop_flag.wait(0.01)


def voice_latency_and_memory(server, notify_log: Path, args) -> None:
    """Frame -> Notify while the speech helper reads every order (one every 3 s, each read in
    full), then idle PSS of the app plus its helper and the app's own RSS."""
    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        proc, _ = start_app(home, server.port, "--set", "alerts.repeat_interval=0")
        wait(lambda: server.clients, 20, "connection")
        wait_for_speech(home)
        latencies = []
        for i in range(args.orders):
            mark = len(notify_entries(notify_log))
            number = 4_000_000 + i
            stamp = server.send([order(number)])[0]
            entry = wait(lambda n=number, m=mark: next((e for e in notify_entries(notify_log)[m:]
                                                        if e["summary"].endswith(f"#{n}")), None), 20, "notification")
            latencies.append((entry["t_mono_ns"] - stamp) / 1e6)
            time.sleep(3.0)
        said = (home / "stderr.log").read_text(errors="replace").count("announce:")
        print(f"frame sent -> Notify, speech helper reading every order ({len(latencies)} orders, 3 s apart, "
              f"{said} announced): p50 {percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
              f"max {max(latencies):.2f} ms")
        time.sleep(10)  # the last line is over; idle
        pss_samples, rss_samples = [], []
        for _ in range(5):
            helpers = children(proc.pid)
            pss_samples.append((pss_bytes(proc.pid) + sum(pss_bytes(p) for p in helpers)) / 1e6)
            rss_samples.append(proc_stat(proc.pid)[1] / 1e6)
            time.sleep(1)
        print(f"idle memory: PSS app + {len(helpers)} helper median {statistics.median(pss_samples):.1f} MB "
              f"(range {min(pss_samples):.1f}-{max(pss_samples):.1f}); app alone RSS median "
              f"{statistics.median(rss_samples):.1f} MB, PSS {pss_bytes(proc.pid) / 1e6:.1f} MB; helper PSS "
              f"{sum(pss_bytes(p) for p in helpers) / 1e6:.1f} MB")
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    parser.add_argument("--first-orders", type=int, default=3, help="launches for the first-order case")
    parser.add_argument("--only", choices=("voice",), help="only the speech-helper numbers")
    args = parser.parse_args()
    notify_log = Path(os.environ.get("NOTIFIER_TEST_NOTIFY_LOG", ""))
    if not os.environ.get("NOTIFIER_TEST_SESSION"):
        print("run inside the harness session (tests/harness/desktop-session)", file=sys.stderr)
        return 2
    server = FrameServer()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"load average at start {Path('/proc/loadavg').read_text().split()[:3]}")
    if args.only == "voice":
        first_order_after_launch(server, notify_log, args.first_orders)
        voice_latency_and_memory(server, notify_log, args)
        print(f"load average at end {Path('/proc/loadavg').read_text().split()[:3]}")
        return 0

    # 1. launch -> connected
    launches = []
    for _ in range(args.launches):
        with tempfile.TemporaryDirectory() as home:
            before = len(server.connected_at)
            proc, t0 = start_app(Path(home), server.port)
            wait(lambda b=before: len(server.connected_at) > b, 20, "connection")
            launches.append((server.connected_at[-1] - t0) / 1e6)
            stop(proc)
            wait(lambda: not server.clients, 10, "disconnect")
    print(f"launch -> connected: median {statistics.median(launches):.0f} ms, "
          f"min {min(launches):.0f} ms, max {max(launches):.0f} ms over {len(launches)} launches")

    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        proc, _ = start_app(home, server.port, "--set", "alerts.burst_threshold=1000",
                            "--set", "alerts.repeat_interval=0")
        wait(lambda: server.clients, 20, "connection")
        wait_for_speech(home)

        # 2. frame sent -> Notify on the bus
        mark = len(notify_entries(notify_log))
        base = 1_000_000
        stamps = server.send([order(base + i) for i in range(args.orders)], spacing=0.02)
        wait(lambda: len(notify_entries(notify_log)) - mark >= args.orders, 60, "all notifications")
        seen = {}
        for entry in notify_entries(notify_log)[mark:]:
            number = entry["summary"].rsplit("#", 1)[-1]
            if number.isdigit():
                seen.setdefault(int(number), entry["t_mono_ns"])
        latencies = [(seen[base + i] - stamps[i]) / 1e6 for i in range(args.orders) if base + i in seen]
        print(f"frame sent -> Notify on bus ({len(latencies)} orders, each written to the ledger first, "
              f"the speech helper reading them): "
              f"p50 {percentile(latencies, 50):.2f} ms, p95 {percentile(latencies, 95):.2f} ms, "
              f"p99 {percentile(latencies, 99):.2f} ms, max {max(latencies):.2f} ms")

        stop(proc)

    # 3. idle: a fresh app, connected, nothing to say (the one above still reads 500 orders aloud)
    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        proc, _ = start_app(home, server.port)
        wait(lambda: server.clients, 20, "connection")
        wait_for_speech(home)
        time.sleep(5)
        cpu0, _ = proc_stat(proc.pid)
        time.sleep(args.idle)
        cpu1, rss = proc_stat(proc.pid)
        helpers = children(proc.pid)
        pss = pss_bytes(proc.pid) + sum(pss_bytes(pid) for pid in helpers)
        print(f"idle: RSS {rss / 1e6:.1f} MB, CPU {100 * (cpu1 - cpu0) / args.idle:.2f} % over "
              f"{args.idle:g} s; PSS app + {len(helpers)} speech helper(s) {pss / 1e6:.1f} MB")
        stop(proc)

    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        env_home = {"NOTIFIER_HOME": str(home)}
        proc, _ = start_app(home, server.port)
        wait(lambda: server.clients, 20, "connection")
        wait_for_speech(home)
        old = dict(os.environ)
        os.environ.update(env_home)
        from notifier.desktop.single_instance import instance_name

        name = instance_name()
        os.environ.clear()
        os.environ.update(old)

        # 4. burst
        mark = len(notify_entries(notify_log))
        rtts: list[float] = []
        stop_flag = threading.Event()
        pinger = threading.Thread(target=main_thread_pinger, args=(name, stop_flag, rtts))
        pinger.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.send([order(2_000_000 + i) for i in range(args.burst)])
        from notifier.core.ledger import Ledger

        ledger = Ledger(home / "data" / "ledger.sqlite3")
        wait(lambda: ledger.count() >= args.burst, 60, "burst in the ledger")
        stored = time.monotonic() - started
        time.sleep(4.0)  # summary window and announcements
        stop_flag.set()
        pinger.join()
        alive = proc.poll() is None
        shown = len(notify_entries(notify_log)) - mark
        print(f"burst of {args.burst}: all in the ledger after {stored * 1000:.0f} ms; "
              f"{shown} notifications; app alive: {alive}; main-thread round trip max "
              f"{max(rtts):.1f} ms, p99 {percentile(rtts, 99):.1f} ms over {len(rtts)} pings")
        ledger.close()
        stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
