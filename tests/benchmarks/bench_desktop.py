"""Desktop benchmark: the tray app beside its peer gotify-tray, measured from outside. Run it
inside the harness session (run_all.py starts one):

    dbus-run-session -- tests/harness/desktop-session python tests/benchmarks/bench_desktop.py

Measured the way an outsider measures, the same way for both programs and in the same run:
- launch -> connected: process start -> its WebSocket accepted by the push server;
- push -> notification: the instant the push server sends the message -> the Notify call
  arriving on the session bus, stamped by the notification recorder (CLOCK_MONOTONIC, the same
  clock here) and, as a second witness, by `dbus-monitor` (the bus daemon's copy, wall clock).
  Ours runs with its defaults (voice on, chimes, repeats) and prints every order on a recording
  ESC/POS printer, so it is measured *while the voice speaks and the printer prints*; each
  order is on disk before its popup. The two programs take turns, round by round, so both see
  the same load;
- idle memory after 100 orders and a burst of 1,000: RSS of the app, PSS of the app and its
  speech helper (shared pages counted once), and the peer's RSS after the same;
- the burst: time until all 1,000 are in the ledger, popups shown, and the longest main-thread
  stall (round trips through the app's single-instance socket every 10 ms).
Our app speaks the json protocol to a minimal aiohttp WebSocket server; gotify-tray (from PyPI,
in a virtualenv of its own: peer_gotify.py) talks to a minimal Gotify server. gotify-tray
notifies through its tray icon, so a StatusNotifierWatcher is on the bus for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
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

from tests.benchmarks.peer_gotify import PEER, GotifyDouble, peer_python, start_peer  # noqa: E402

PEER_CACHE = ROOT / ".bench-peers"  # the peer's virtualenv (git-ignored)


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


class NotifyTail:
    """The recorder's log read as it grows (only the new bytes each time): cheap enough to poll
    every half millisecond beside the programs being measured."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[dict] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return len(self.entries)
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self.entries += [json.loads(line) for line in lines if line]
        return len(self.entries)

    def wait_for(self, summary: str, after: int, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            for entry in self.entries[after:]:
                if entry["summary"] == summary or entry["summary"].endswith(summary):
                    return entry
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for the notification {summary!r}")
            time.sleep(0.0005)


class BusMonitor:
    """`dbus-monitor` watching Notify calls: when the bus daemon's copy of each reached it
    (wall clock, microseconds), by summary. A witness that shares no code with the recorder."""

    HEADER = re.compile(r"^method call time=(\d+)\.(\d+) .*member=Notify$")
    STRING = re.compile(r'^\s+string "(.*)"$')

    def __init__(self):
        self.seen: dict[str, int] = {}
        self.proc = subprocess.Popen(
            ["dbus-monitor", "--session",
             "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        threading.Thread(target=self._read, name="dbus-monitor", daemon=True).start()
        time.sleep(0.5)  # it has said hello to the bus

    def _read(self) -> None:
        stamp, strings = None, []
        for line in self.proc.stdout:
            header = self.HEADER.match(line.rstrip("\n"))
            if header:
                stamp, strings = int(header.group(1)) * 10**9 + int(header.group(2).ljust(6, "0")[:6]) * 1000, []
                continue
            text = self.STRING.match(line.rstrip("\n"))
            if stamp is not None and text:
                strings.append(text.group(1))
                if len(strings) == 3:  # app_name, app_icon, summary
                    self.seen.setdefault(strings[2], stamp)
                    stamp = None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary_ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.2f} ms, p95 {percentile(values, 95):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms, max {max(values):.2f} ms")


class Ours:
    """The tray app, connected to a FrameServer; orders are json frames."""

    name = "ours"

    def __init__(self, server: FrameServer, home: Path, *extra: str):
        self.server, self.home = server, home
        before = len(server.connected_at)
        self.proc, self.t0 = start_app(home, server.port, *extra)
        wait(lambda: len(server.connected_at) > before, 30, "our app to connect")
        self.connected_ms = (server.connected_at[-1] - self.t0) / 1e6

    def push(self, n: int) -> tuple[str, int, int]:
        wall = time.time_ns()
        stamp = self.server.send([order(n)])[0]
        return f"#{n}", stamp, wall

    def stop(self) -> None:
        stop(self.proc)
        wait(lambda: not self.server.clients, 10, "our app to disconnect")


class Peer:
    """gotify-tray, connected to a GotifyDouble; orders are Gotify messages."""

    name = PEER

    def __init__(self, python: Path, server: GotifyDouble, home: Path):
        self.server, self.home = server, home
        home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic_ns()
        self.proc = start_peer(python, home, server, (home / "stderr.log").open("w"))
        wait(lambda: server.streams, 30, f"{PEER} to connect")
        self.connected_ms = (time.monotonic_ns() - t0) / 1e6

    def push(self, n: int) -> tuple[str, int, int]:
        title = f"新订单 {n}"
        wall = time.time_ns()
        return title, self.server.push(title, "金额 56.50 元 · 张三"), wall

    def stop(self) -> None:
        stop(self.proc)
        wait(lambda: not self.server.streams, 10, f"{PEER} to disconnect")


def launches(server: FrameServer, gotify: GotifyDouble, python: Path, count: int) -> None:
    """launch -> connected, the two programs in turn, each in a fresh home."""
    times: dict[str, list[float]] = {"ours": [], PEER: []}
    for _ in range(count):
        with tempfile.TemporaryDirectory() as home:
            app = Ours(server, Path(home))
            times["ours"].append(app.connected_ms)
            app.stop()
        with tempfile.TemporaryDirectory() as home:
            peer = Peer(python, gotify, Path(home))
            times[PEER].append(peer.connected_ms)
            peer.stop()
    for name, values in times.items():
        print(f"launch -> connected, {name}: median {statistics.median(values):.0f} ms, "
              f"min {min(values):.0f} ms, max {max(values):.0f} ms over {len(values)} launches")


def latency(server: FrameServer, gotify: GotifyDouble, python: Path, tail: NotifyTail,
            rounds: int, per_round: int, gap: tuple[float, float] = (0.4, 0.6)) -> None:
    """push -> Notify on the bus: ours while speaking and printing, the peer the same way."""
    from tests.fakes.escpos_server import EscposPrinterServer

    printer = EscposPrinterServer().start()
    monitor = BusMonitor()
    rng = random.Random(27)
    with tempfile.TemporaryDirectory() as ours_home, tempfile.TemporaryDirectory() as peer_home:
        ours = Ours(server, Path(ours_home), "--set", "printer.print_on=new_order",
                    "--set", f"printer.address={printer.address}")
        peer = Peer(python, gotify, Path(peer_home))
        wait_for_speech(Path(ours_home))
        time.sleep(1.0)
        recorded: dict[str, list[float]] = {"ours": [], PEER: []}
        witnessed: dict[str, list[float]] = {"ours": [], PEER: []}
        pushes: dict[str, list[tuple[str, int]]] = {"ours": [], PEER: []}
        number = 5_000_000
        for _ in range(rounds):
            for app in (ours, peer):
                for _ in range(per_round):
                    number += 1
                    after = tail.poll()
                    summary, stamp, wall = app.push(number)
                    entry = tail.wait_for(summary, after)
                    recorded[app.name].append((entry["t_mono_ns"] - stamp) / 1e6)
                    pushes[app.name].append((entry["summary"], wall))
                    # A busy shop: the voice never catches up, and yet at most 3 orders a second,
                    # so each gets its own popup (more become one summary, alerts.burst_threshold).
                    time.sleep(rng.uniform(*gap))
        time.sleep(0.5)
        for name, sent in pushes.items():
            witnessed[name] = [(monitor.seen[s] - wall) / 1e6 for s, wall in sent if s in monitor.seen]
        said = (Path(ours_home) / "stderr.log").read_text(errors="replace").count("announce:")
        tickets = len(printer.tickets())
        ours.stop()
        peer.stop()
    monitor.stop()
    printer.stop()
    for name in ("ours", PEER):
        extra = f" ({said} lines spoken, {tickets} tickets printed meanwhile)" if name == "ours" else ""
        print(f"push -> Notify on the bus, {name}, {len(recorded[name])} orders {gap[0]:g}-{gap[1]:g} s apart "
              f"in {rounds} rounds{extra}: {summary_ms(recorded[name])}")
        print(f"  slowest five, {name}: {', '.join(f'{v:.1f}' for v in sorted(recorded[name])[-5:])} ms")
        if witnessed[name]:
            print(f"  the same seen by dbus-monitor, {name}: p50 {percentile(witnessed[name], 50):.2f} ms, "
                  f"p99 {percentile(witnessed[name], 99):.2f} ms ({len(witnessed[name])} seen)")


def crash_line(stderr: Path) -> str:
    """The last line of a crashed program's error output (its exception, usually)."""
    lines = [line for line in stderr.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no error output"


def ledger_count(home: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{home / 'data' / 'ledger.sqlite3'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def burst_and_memory(server: FrameServer, gotify: GotifyDouble, python: Path, tail: NotifyTail,
                     burst: int, idle: float) -> None:
    """100 orders, then a burst: the burst's numbers, then idle memory of both programs."""
    with tempfile.TemporaryDirectory() as ours_home, tempfile.TemporaryDirectory() as peer_home:
        home = Path(ours_home)
        ours = Ours(server, home)
        wait_for_speech(home)
        peer = Peer(python, gotify, Path(peer_home))
        server.send([order(6_000_000 + i) for i in range(100)], spacing=0.02)
        for i in range(100):
            gotify.push(f"新订单 {6_000_000 + i}", "金额 56.50 元")
            time.sleep(0.02)
        wait(lambda: ledger_count(home) >= 100, 30, "100 orders in the ledger")
        time.sleep(2.0)

        old = dict(os.environ)
        os.environ["NOTIFIER_HOME"] = str(home)
        from notifier.desktop.single_instance import instance_name

        name = instance_name()
        os.environ.clear()
        os.environ.update(old)
        mark = tail.poll()
        rtts: list[float] = []
        stop_flag = threading.Event()
        pinger = threading.Thread(target=main_thread_pinger, args=(name, stop_flag, rtts))
        pinger.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.send([order(2_000_000 + i) for i in range(burst)])
        wait(lambda: ledger_count(home) >= 100 + burst, 60, "the burst in the ledger")
        stored = time.monotonic() - started
        for i in range(burst):
            gotify.push(f"新订单 {7_000_000 + i}", "金额 56.50 元")
        time.sleep(4.0)  # the summary window and its announcement
        stop_flag.set()
        pinger.join()
        shown = tail.poll() - mark
        print(f"burst of {burst}: all in the ledger after {stored * 1000:.0f} ms; {shown} notifications "
              f"(both programs); our app alive: {ours.proc.poll() is None}; main-thread round trip max "
              f"{max(rtts):.1f} ms, p99 {percentile(rtts, 99):.1f} ms over {len(rtts)} pings")

        time.sleep(idle)  # the voice has read its summary lines; nothing is due
        cpu0, _ = proc_stat(ours.proc.pid)
        rss, pss, peer_rss = [], [], []
        for _ in range(5):
            helpers = children(ours.proc.pid)
            rss.append(proc_stat(ours.proc.pid)[1] / 1e6)
            pss.append((pss_bytes(ours.proc.pid) + sum(pss_bytes(p) for p in helpers)) / 1e6)
            if peer.proc.poll() is None:
                peer_rss.append(proc_stat(peer.proc.pid)[1] / 1e6)
            time.sleep(1.0)
        cpu1, _ = proc_stat(ours.proc.pid)
        peer_said = (f"{PEER} RSS {statistics.median(peer_rss):.1f} MB" if peer.proc.poll() is None else
                     f"{PEER} exited during the burst (status {peer.proc.returncode}; "
                     f"{crash_line(peer.home / 'stderr.log')})")
        print(f"idle after 100 orders and a burst of {burst}: ours RSS {statistics.median(rss):.1f} MB, "
              f"PSS app + {len(helpers)} speech helper {statistics.median(pss):.1f} MB, CPU "
              f"{100 * (cpu1 - cpu0) / 5:.2f} %; {peer_said}")
        ours.stop()
        if peer.proc.poll() is None:
            peer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="latency rounds (each program per round)")
    parser.add_argument("--per-round", type=int, default=30, help="orders per program per round")
    parser.add_argument("--gap", default="0.4-0.6", metavar="LOW-HIGH",
                        help="seconds between two orders, drawn evenly from this range (a quiet "
                             "shop: 20-40)")
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of quiet before memory")
    parser.add_argument("--first-orders", type=int, default=3, help="launches for the first-order case")
    parser.add_argument("--orders", type=int, default=20, help="orders for --only voice")
    parser.add_argument("--only", choices=("voice", "latency"),
                        help="only the speech-helper numbers, or only push -> notification")
    args = parser.parse_args()
    try:
        low, high = (float(value) for value in args.gap.split("-"))
    except ValueError:
        parser.error(f"--gap: two numbers of seconds, e.g. 0.4-0.6 (not {args.gap!r})")
    notify_log = Path(os.environ.get("NOTIFIER_TEST_NOTIFY_LOG", ""))
    if not os.environ.get("NOTIFIER_TEST_SESSION"):
        print("run inside the harness session (tests/harness/desktop-session)", file=sys.stderr)
        return 2
    server = FrameServer()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average at start {loadavg()}")
    if args.only == "voice":
        first_order_after_launch(server, notify_log, args.first_orders)
        voice_latency_and_memory(server, notify_log, args)
        print(f"load average at end {loadavg()}")
        return 0

    python = peer_python(PEER_CACHE)
    watcher = subprocess.Popen([sys.executable, str(ROOT / "tests" / "harness" / "status_notifier_watcher.py")],
                               stdout=subprocess.PIPE, text=True)
    if "ready" not in (watcher.stdout.readline() or ""):
        print("the StatusNotifierWatcher did not start", file=sys.stderr)
        return 1
    gotify = GotifyDouble()
    tail = NotifyTail(notify_log)
    try:
        if args.only != "latency":
            launches(server, gotify, python, args.launches)
        latency(server, gotify, python, tail, args.rounds, args.per_round, (low, high))
        if args.only != "latency":
            burst_and_memory(server, gotify, python, tail, args.burst, args.idle)
    finally:
        watcher.terminate()
        watcher.wait(5)
    print(f"load average at end {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
