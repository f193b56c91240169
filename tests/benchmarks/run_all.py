"""Run every benchmark against the real servers, several times, and publish the headline.

    .venv/bin/python tests/benchmarks/run_all.py            # every benchmark, 3 runs each (≤ 10 min)
    .venv/bin/python tests/benchmarks/run_all.py --quick    # the same sizes, 2 runs each (~6 min)
    .venv/bin/python tests/benchmarks/run_all.py --full     # bigger sizes, 3 runs each (~25 min)
    .venv/bin/python tests/benchmarks/run_all.py --only desktop --runs 5

Each bench script (bench_ledger, bench_listener, bench_server, bench_amqp, bench_desktop,
bench_print, bench_accept) runs as its own process, `--runs` times; its printed numbers are
picked out of its output, so the scripts stay plain "print the numbers" scripts. Every number
is published as the median over the runs with their range, beside what the same run measured
for its baseline or peer — a bare websocket-client printer for `notifier listen`, a bare
aiohttp broadcast server for the reference server, the same bytes sent straight to the printer
for kitchen tickets, gotify-tray for the tray app — with the load average during the runs, the
date and the commit. The desktop benchmark needs the harness session: outside it, this script
starts one per run (dbus-run-session + tests/harness/desktop-session). The RabbitMQ benchmark is
skipped, with the reason, when no broker answers. One measurement lives here because no script
had it: reconnect time after a 5 s server outage and after a half-open (frozen) connection.

Writes (default folder docs/benchmarks/): results.json (every value of every run, the raw
output of every run, the machine), results.md (the headline table) and results.png (drawn
with Qt's QPainter off screen: no matplotlib needed); and, unless --out is given or --only
names some benchmarks, the headline section of docs/benchmarks.md between its markers. A run of
some benchmarks (--only) writes to build/benchmarks/ unless --out says where: the published
files stay those of the last whole run, which the headline describes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
HEADLINE_START = "<!-- run_all.py: headline start (generated; edits here are overwritten) -->"
HEADLINE_END = "<!-- run_all.py: headline end -->"
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY", "NO_PROXY")
NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
# The default run (standard sizes, 3 runs) must answer within this on 2 cores: a number nobody
# regenerates because it takes half an hour ends up hand-kept (issue 27).
STANDARD_BUDGET_S = 600


@dataclass
class Metric:
    name: str
    pattern: str  # regex on a run's output; group 1 is our value
    unit: str
    baseline: str | None = None  # regex for the baseline's or peer's value in the same run
    goal: float | None = None  # the goal, when it sets one
    lower_is_better: bool = True


@dataclass
class Bench:
    name: str
    standard: list[str]  # the sizes of the default run, which must stay within STANDARD_BUDGET_S
    full: list[str]
    metrics: list[Metric]
    timeout: float  # per run
    baseline: str = ""  # what the baseline column holds for this benchmark
    needs_session: bool = False
    needs: str | None = None  # a command that must exist
    opt_in: bool = False  # runs only when named with --only (the soak takes 30 minutes)
    result: dict = field(default_factory=dict)


def _m(name, pattern, unit, baseline=None, **kw) -> Metric:
    return Metric(name, pattern.replace("NUM", NUM), unit,
                  baseline.replace("NUM", NUM) if baseline else None, **kw)


BENCHES = [
    Bench("ledger", ["-m", "tests.benchmarks.bench_ledger", "--events", "2000"],
          ["-m", "tests.benchmarks.bench_ledger", "--events", "5000"], [
              _m("ledger record, one per transaction", r"record \(one per transaction\).*?: NUM events/s", "events/s",
                 lower_is_better=False),
              _m("ledger record_many, batches", r"record_many .*?: NUM events/s", "events/s", lower_is_better=False),
              _m("ledger record of known events", r"already-known events.*?: NUM events/s", "events/s",
                 lower_is_better=False),
          ], 300),
    Bench("listener", ["-m", "tests.benchmarks.bench_listener", "--orders", "200", "--runs", "1", "--idle", "10"],
          ["-m", "tests.benchmarks.bench_listener", "--orders", "500", "--runs", "1", "--idle", "30"], [
              _m("listen: frame -> JSON line p50", r"run 1: .*?listen p50 NUM", "ms",
                 r"run 1: .*?bare printer p50 NUM"),
              _m("listen: frame -> JSON line p99", r"run 1: .*?listen p50 [0-9.]+ p99 NUM", "ms",
                 r"run 1: .*?bare printer p50 [0-9.]+ p99 NUM"),
              _m("listen: idle CPU", r"idle over.*?= NUM % of one core", "% core", goal=0.0),
              _m("listen: idle RSS", r"idle over.*?RSS NUM MiB", "MiB", goal=80.0),
          ], 600, baseline="bare websocket-client printer"),
    Bench("server", ["tests/benchmarks/bench_server.py", "--only", "compare", "--quick", "--layouts", "1x100"],
          ["tests/benchmarks/bench_server.py", "--only", "compare", "--layouts", "1x100,1000x2"], [
              _m("server: publish -> client p50, 1 shop x 100", r"compare 1 shop x 100\s+ours:.*?p50 NUM ms", "ms",
                 r"compare 1 shop x 100\s+bare:.*?p50 NUM ms"),
              _m("server: publish -> client p99, 1 shop x 100", r"compare 1 shop x 100\s+ours:.*?p99 NUM ms", "ms",
                 r"compare 1 shop x 100\s+bare:.*?p99 NUM ms"),
              _m("server: signed ingest, 1 shop x 100", r"compare 1 shop x 100\s+ours:.*?ingest NUM events/s",
                 "events/s", r"compare 1 shop x 100\s+bare:.*?ingest NUM events/s", lower_is_better=False),
              _m("server: RSS with 100 streams", r"compare 1 shop x 100\s+ours:.*?RSS NUM MiB", "MiB",
                 r"compare 1 shop x 100\s+bare:.*?RSS NUM MiB"),
          ], 900, baseline="bare aiohttp broadcast server"),
    Bench("amqp", ["tests/benchmarks/bench_amqp.py", "--backlog", "1000", "--seconds", "5"],
          ["tests/benchmarks/bench_amqp.py"], [
              _m("amqp: queue -> ledger, prefetch 20", r"prefetch\s+20:\s+NUM messages/s", "msg/s",
                 lower_is_better=False),
              _m("amqp: publish -> ledger p50", r"latency publish->ledger.*?p50 NUM ms", "ms"),
              _m("amqp: publish -> ledger p99", r"latency publish->ledger.*?p99 NUM ms", "ms"),
          ], 600, needs="rabbitmqctl"),
    Bench("desktop", ["tests/benchmarks/bench_desktop.py", "--launches", "2", "--rounds", "2", "--per-round", "25",
                      "--burst", "1000", "--idle", "10"],
          ["tests/benchmarks/bench_desktop.py", "--launches", "3", "--rounds", "3", "--per-round", "40",
           "--burst", "1000", "--idle", "20"], [
              _m("app: launch -> connected (median)", r"launch -> connected, ours: median NUM ms", "ms",
                 r"launch -> connected, gotify-tray: median NUM ms", goal=400.0),
              _m("app: push -> notification p50, speaking and printing", r"Notify on the bus, ours,.*?p50 NUM ms",
                 "ms", r"Notify on the bus, gotify-tray,.*?p50 NUM ms"),
              _m("app: push -> notification p99, speaking and printing", r"Notify on the bus, ours,.*?p99 NUM ms",
                 "ms", r"Notify on the bus, gotify-tray,.*?p99 NUM ms", goal=5.0),
              _m("app: the same p50, seen by dbus-monitor", r"seen by dbus-monitor, ours: p50 NUM ms", "ms",
                 r"seen by dbus-monitor, gotify-tray: p50 NUM ms"),
              _m("app: the same p99, seen by dbus-monitor", r"seen by dbus-monitor, ours: p50 [0-9.]+ ms, p99 NUM ms",
                 "ms", r"seen by dbus-monitor, gotify-tray: p50 [0-9.]+ ms, p99 NUM ms"),
              _m("app: idle RSS after 100 orders and a burst of 1,000", r"idle after .*?ours RSS NUM MB", "MB",
                 r"idle after .*?gotify-tray RSS NUM MB", goal=75.0),
              _m("app + speech helper: idle PSS", r"idle after .*?PSS app \+ [0-9]+ speech helper NUM MB", "MB",
                 goal=90.0),
              _m("app: idle CPU", r"idle after .*?CPU NUM %", "% core", goal=0.0),
              _m("app: burst of 1,000, all in the ledger after", r"burst of .*?after NUM ms", "ms", goal=1000.0),
              _m("app: burst, longest main-thread stall", r"main-thread round trip max NUM ms", "ms", goal=100.0),
          ], 1200, baseline="gotify-tray 0.5.3", needs_session=True),
    Bench("print", ["-m", "tests.benchmarks.bench_print", "--orders", "20", "--system-orders", "5", "--burst", "50"],
          ["-m", "tests.benchmarks.bench_print"], [
              _m("print: order on disk -> ESC/POS ticket p50 (text)",
                 r"escpos/gb18030(?:.|\n)*?order on disk -> ticket at the printer: p50 NUM ms", "ms",
                 r"escpos/gb18030(?:.|\n)*?baseline \(same bytes straight to the printer\): p50 NUM ms"),
              _m("print: order on disk -> ESC/POS ticket p99 (text)",
                 r"escpos/gb18030(?:.|\n)*?order on disk -> ticket at the printer: p50 [0-9.]+ ms, p99 NUM ms", "ms",
                 r"escpos/gb18030(?:.|\n)*?baseline \(same bytes straight to the printer\): p50 [0-9.]+ ms, p99 NUM ms"),
              _m("print: order on disk -> ESC/POS ticket p50 (image)",
                 r"escpos/image(?:.|\n)*?order on disk -> ticket at the printer: p50 NUM ms", "ms",
                 r"escpos/image(?:.|\n)*?baseline \(same bytes straight to the printer\): p50 NUM ms"),
              _m("print: burst, tickets/s (text)", r"escpos/gb18030(?:.|\n)*?burst of [0-9]+: .*?\(NUM tickets/s\)",
                 "tickets/s", lower_is_better=False),
              _m("print: order on disk -> CUPS spooler p50", r"job accepted by the spooler: p50 NUM ms", "ms"),
          ], 600, baseline="the same bytes straight to the printer"),
    Bench("accept", ["-m", "tests.benchmarks.bench_accept", "--rounds", "30"],
          ["-m", "tests.benchmarks.bench_accept", "--rounds", "100"], [
              _m("accept: click -> server's answer p50", r'"click_to_server_answer": \{\s*"p50_ms": NUM', "ms",
                 r'"baseline_publish_to_both_on_disk": \{\s*"p50_ms": NUM'),
              _m("accept: click -> silence on the other PC p50", r'"click_to_silence_on_b": \{\s*"p50_ms": NUM', "ms"),
              _m("accept: click -> silence on the other PC p99",
                 r'"click_to_silence_on_b": \{\s*"p50_ms": [0-9.]+,\s*"p99_ms": NUM', "ms", goal=1000.0),
          ], 600, baseline="publish -> both PCs have it on disk"),
    Bench("threads", ["tests/benchmarks/bench_threads.py", "--runs", "1"],
          ["tests/benchmarks/bench_threads.py", "--runs", "3"], [
              _m("app: threads of the idle tray app (sky-take-out, printer, voice)",
                 r"python threads of the idle tray app: median NUM", "threads", goal=6.0),
          ], 300, needs_session=True),
    Bench("soak", ["tests/benchmarks/bench_soak.py", "--minutes", "3"],
          ["tests/benchmarks/bench_soak.py", "--minutes", "30"], [
              _m("soak: orders missing from the ledger", r"orders missing: NUM orders", "orders", goal=0.0),
              _m("soak: orders in the ledger twice", r"orders duplicated: NUM orders", "orders", goal=0.0),
              _m("soak: orders with a notification", r"orders notified: NUM orders", "orders",
                 lower_is_better=False),
              _m("soak: RSS at end", r"RSS at end: NUM MB", "MB"),
              _m("soak: RSS growth per 10 min", r"RSS growth: ([-+]?[0-9.]+) MB/10 min", "MB/10 min"),
              _m("soak: RSS growth per 10 min, repeat window full",
                 r"RSS growth after [0-9.]+ min: ([-+]?[0-9.]+) MB/10 min", "MB/10 min", goal=0.25),
          ], 2400, needs_session=True, opt_in=True),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    # The session's helpers (notification recorder) run on this Python too, as under tests/run.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["NOTIFIER_PYTHON"] = sys.executable
    return env


def _broker_answers() -> str | None:
    """None when RabbitMQ answers, else why not. Asked three times, 10 s apart: the machine's one
    broker may be restarting for a test (tests/e2e/test_amqp.py restarts it)."""
    why = ""
    for attempt in range(3):
        if attempt:
            time.sleep(10)
        try:
            done = subprocess.run(["rabbitmqctl", "-q", "status"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"rabbitmqctl: {exc}"
            continue
        if done.returncode == 0:
            return None
        why = "no RabbitMQ broker running (.ci/setup.d/50-rabbitmq.sh starts one)"
    return why


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_bench(bench: Bench, full: bool, runs: int) -> dict:
    args = bench.full if full else bench.standard
    command = [sys.executable, *args]
    if bench.needs and not shutil.which(bench.needs):
        return {"skipped": f"{bench.needs} not installed"}
    if bench.name == "amqp" and (why := _broker_answers()):
        return {"skipped": why}
    if bench.needs_session and os.environ.get("NOTIFIER_TEST_SESSION") != "1":
        if not shutil.which("dbus-run-session"):
            return {"skipped": "dbus-run-session not installed"}
        # A fresh session per run: one run's leftovers (a notification log, a speech queue)
        # never weigh on the next.
        command = ["dbus-run-session", "--", str(REPO / "tests/harness/desktop-session"), *command]
    result = {"command": " ".join(args), "baseline": bench.baseline, "runs": [], "metrics": {}}
    for number in range(1, runs + 1):
        started, load_before = time.monotonic(), load1()
        try:
            done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True,
                                  timeout=bench.timeout)
            output, code, errors = done.stdout, done.returncode, done.stderr[-3000:]
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            code, errors = -1, f"timed out after {bench.timeout:g} s"
        run = {"run": number, "seconds": round(time.monotonic() - started, 1), "exit_code": code,
               "load_before": load_before, "load_after": load1(), "output": output}
        if code != 0:
            run["error"] = errors
        result["runs"].append(run)
        print(f"  run {number}: {run['seconds']} s, load {load_before:.2f} -> {run['load_after']:.2f}"
              + (f", failed (exit {code})" if code else ""), flush=True)
    for metric in bench.metrics:
        ours, theirs = [], []
        for run in result["runs"]:
            if (found := re.search(metric.pattern, run["output"])):
                ours.append(float(found.group(1).replace(",", "")))
            if metric.baseline and (found := re.search(metric.baseline, run["output"])):
                theirs.append(float(found.group(1).replace(",", "")))
        if ours:
            result["metrics"][metric.name] = {
                "values": ours, **spread(ours), "unit": metric.unit, "goal": metric.goal,
                "lower_is_better": metric.lower_is_better,
                "baseline": {"values": theirs, **spread(theirs)} if theirs else None}
        else:  # a part the machine lacks (CUPS): said in the headline, not left out of it
            said = [line.strip() for run in result["runs"] for line in run["output"].splitlines()
                    if "skipped" in line]
            result.setdefault("unmeasured", {})[metric.name] = said[0] if said else "not in the output"
    loads = [x for run in result["runs"] for x in (run["load_before"], run["load_after"])]
    result["load"] = spread(loads)
    failed = [run for run in result["runs"] if run.get("error")]
    if failed:
        result["error"] = f"{len(failed)} of {runs} runs failed; last: {failed[-1]['error'][-800:]}"
    return result


# -- the one measurement no script had: reconnects ---------------------------------------------


def bench_reconnect(full: bool) -> dict:
    """Time to connected after a 5 s outage (server stopped, then started on the same port) and
    after a half-open connection (server process frozen with SIGSTOP), sky-take-out double.
    Its rounds are its runs: every number is the median and range over them."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    from notifier.core.connection import ConnState
    from notifier.core.ledger import Ledger
    from notifier.core.secrets import MemorySecrets
    from tests.fakes.running_source import RunningSource, sky_settings
    from tests.fakes.skytakeout_server import DoubleProcess, SkyTakeOutDouble

    for name in PROXY_VARS:
        os.environ.pop(name, None)
    rounds = 5 if full else 3
    pings = {"connection.ping_interval": 5, "connection.ping_timeout": 2}
    outage, frozen_noticed, thawed = [], [], []
    started = time.monotonic()

    def wait(predicate, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("reconnect benchmark: condition not reached")
            time.sleep(0.005)
        return time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        with SkyTakeOutDouble(record_sent=False) as double:
            running = RunningSource(sky_settings(double, **pings), Ledger(Path(tmp) / "a.sqlite3"), MemorySecrets())
            try:
                wait(lambda: running.state is ConnState.CONNECTED, 10)
                for _ in range(rounds):
                    double.stop()
                    wait(lambda: running.state is not ConnState.CONNECTED, 10)
                    time.sleep(5.0)
                    back = time.monotonic()
                    double.start()
                    outage.append(wait(lambda: running.state is ConnState.CONNECTED, 40) - back)
            finally:
                running.stop()
                running.ledger.close()
        with DoubleProcess() as frozen:
            running = RunningSource(sky_settings(frozen, **pings), Ledger(Path(tmp) / "b.sqlite3"), MemorySecrets())
            try:
                wait(lambda: running.state is ConnState.CONNECTED, 10)
                for _ in range(rounds):
                    time.sleep(1.0)
                    frozen.freeze()
                    froze = time.monotonic()
                    frozen_noticed.append(wait(lambda: running.state is not ConnState.CONNECTED, 20) - froze)
                    frozen.thaw()
                    thaw = time.monotonic()
                    thawed.append(wait(lambda: running.state is ConnState.CONNECTED, 40) - thaw)
            finally:
                running.stop()
                running.ledger.close()
    lines = [f"5 s outage, server back -> connected: {', '.join(f'{v * 1000:.0f}' for v in outage)} ms",
             f"half-open (SIGSTOP), pings 5 s + 2 s: noticed after {', '.join(f'{v:.1f}' for v in frozen_noticed)} s; "
             f"thawed -> connected {', '.join(f'{v * 1000:.0f}' for v in thawed)} ms"]

    def metric(values: list[float], unit: str, goal: float | None = None) -> dict:
        return {"values": values, **spread(values), "unit": unit, "goal": goal, "lower_is_better": True,
                "baseline": None}

    load = load1()
    return {"command": "run_all.py (built in)", "baseline": "", "load": spread([load]),
            "runs": [{"run": 1, "seconds": round(time.monotonic() - started, 1), "exit_code": 0,
                      "load_before": load, "load_after": load, "output": "\n".join(lines) + "\n"}],
            "metrics": {
                "reconnect: 5 s outage, back -> connected": metric([v * 1000 for v in outage], "ms", 3000.0),
                "reconnect: half-open noticed after": metric(frozen_noticed, "s", 7.0),
                "reconnect: half-open, thawed -> connected": metric([v * 1000 for v in thawed], "ms"),
            }}


# -- output -----------------------------------------------------------------------------------


def _number(value: float) -> str:
    """Three significant digits or so: 10,358 / 68.9 / 0.77."""
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def _with_range(m: dict) -> str:
    if m["n"] == 1 or m["min"] == m["max"]:
        return _number(m["median"])
    return f"{_number(m['median'])} ({_number(m['min'])}–{_number(m['max'])})"


def _meets(m: dict) -> str:
    if m["goal"] is None:
        return ""
    ok = m["median"] <= m["goal"] if m["lower_is_better"] else m["median"] >= m["goal"]
    return "yes" if ok else "NO"


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    # Its own output files do not count: they are rewritten by this very run.
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                            capture_output=True, text=True).stdout  # not stripped: "XY path" per line
    changed = [line for line in status.splitlines()
               if not line[3:].startswith(("docs/benchmarks/", "docs/benchmarks.md"))]
    return head + (" with uncommitted changes" if changed else "")


def table(results: dict) -> str:
    """The headline, in Markdown: one row per number, the baseline or peer of the same run beside it."""
    machine = results["machine"]
    lines = [f"{results['mode'].capitalize()} run of {machine['when']}, commit `{machine['commit']}`, "
             f"{machine['cpus']} CPUs, Python {machine['python']}: every benchmark run {results['runs']} times "
             f"(`tests/benchmarks/run_all.py{'' if results['mode'] == 'standard' else ' --' + results['mode']}`, "
             f"{results['minutes']:.1f} minutes in all); each value is "
             f"the median over the runs with their range in brackets, next to the baseline or peer measured "
             f"in the same runs.", "",
             "| benchmark | ours | baseline or peer, same runs | unit | goal | met |",
             "|---|---:|---:|---|---:|---|"]
    for name, result in results["benches"].items():
        if "skipped" in result:
            lines.append(f"| {name}: skipped ({result['skipped']}) | | | | | |")
            continue
        if result.get("error") and not result["metrics"]:
            lines.append(f"| {name}: failed ({result['error'][:80].splitlines()[0]}) | | | | | |")
        for metric, m in result["metrics"].items():
            goal = "" if m["goal"] is None else ("≤ " if m["lower_is_better"] else "≥ ") + f"{m['goal']:g}"
            base = f"{result['baseline']}: {_with_range(m['baseline'])}" if m["baseline"] else ""
            lines.append(f"| {metric} | {_with_range(m)} | {base} | {m['unit']} | {goal} | {_meets(m)} |")
        for metric, why in result.get("unmeasured", {}).items():
            lines.append(f"| {metric}: not measured ({why}) | | | | | |")
    lines += ["", "| benchmark | runs | seconds per run | load average (1 min) during the runs |",
              "|---|---:|---:|---:|"]
    for name, result in results["benches"].items():
        if "runs" in result:
            seconds = [run["seconds"] for run in result["runs"]]
            lines.append(f"| {name} | {len(seconds)} | {_number(statistics.median(seconds))} | "
                         f"{_with_range(result['load'])} |")
    failed = [name for name, result in results["benches"].items() if result.get("error")]
    if failed:
        lines += ["", f"Runs that failed (their output is in results.json): {', '.join(failed)}."]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """One row per number, grouped by unit, each on its own scale: our median as a bar with its
    range as a whisker, the baseline's or peer's median as a thin grey bar under it, the goal as
    a black tick; drawn with QPainter off screen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    panels: dict[str, list[tuple[str, dict]]] = {}
    for result in results["benches"].values():
        for name, m in result.get("metrics", {}).items():
            panels.setdefault(m["unit"], []).append((name, m))
    order = ["ms", "s", "MiB", "MB", "% core", "events/s", "req/s", "msg/s", "tickets/s", "orders"]
    units = sorted(panels, key=lambda u: order.index(u) if u in order else 99)
    width, row_h, head_h, label_w = 1200, 30, 34, 470
    height = 70 + sum(head_h + row_h * len(panels[u]) + 14 for u in units)
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    title, body = QFont(), QFont()
    title.setPointSize(13)
    title.setBold(True)
    body.setPointSize(9)
    p.setFont(title)
    machine = results["machine"]
    p.drawText(QRectF(16, 10, width - 32, 30), Qt.AlignmentFlag.AlignLeft,
               f"Order Notifier benchmarks — {results['mode']} run, {machine['when']}, {machine['commit']}, "
               f"{machine['cpus']} CPUs, {results['runs']} runs each")
    p.setFont(body)
    p.drawText(QRectF(16, 38, width - 32, 20), Qt.AlignmentFlag.AlignLeft,
               "each row on its own scale — bar: our median, whisker: range over the runs; grey: baseline "
               "or peer, same runs; black tick: goal (green met, red missed, blue none)")
    y = 64.0
    bar_w = width - label_w - 170
    for unit in units:
        items = panels[unit]
        p.setFont(title)
        p.drawText(QRectF(16, y, width, head_h), Qt.AlignmentFlag.AlignVCenter, unit)
        y += head_h
        p.setFont(body)
        for name, m in items:
            # Each row on its own scale: what it shows is ours against its baseline and goal.
            top = max(m["max"], m["goal"] or 0, (m["baseline"] or {}).get("max", 0)) or 1.0
            p.setPen(QColor("#222"))
            p.drawText(QRectF(16, y, label_w - 24, row_h),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, name)
            colour = {"yes": "#3a9a5b", "NO": "#d0543f"}.get(_meets(m), "#4f7fc0")
            w = max(1.0, bar_w * m["median"] / top)
            p.fillRect(QRectF(label_w, y + 4, w, row_h - 14), QColor(colour))
            p.setPen(QColor("#111"))
            whisker_y = int(y + 4 + (row_h - 14) / 2)
            p.drawLine(int(label_w + bar_w * m["min"] / top), whisker_y, int(label_w + bar_w * m["max"] / top),
                       whisker_y)
            if m["baseline"]:
                p.fillRect(QRectF(label_w, y + row_h - 9, max(1.0, bar_w * m["baseline"]["median"] / top), 5),
                           QColor("#999"))
            if m["goal"] is not None:
                gx = label_w + bar_w * m["goal"] / top
                p.drawLine(int(gx), int(y + 1), int(gx), int(y + row_h - 3))
            p.setPen(QColor("#222"))
            text = _number(m["median"]) + (f"  (peer/base {_number(m['baseline']['median'])})" if m["baseline"] else "")
            p.drawText(QRectF(label_w + bar_w + 8, y, 170, row_h), Qt.AlignmentFlag.AlignVCenter, text)
            y += row_h
        y += 14
    p.end()
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")


def update_doc(doc: Path, headline: str, plot_name: str) -> None:
    """Replace the generated section of docs/benchmarks.md (between its markers) with the new
    headline; everything else in the page stays as written."""
    text = doc.read_text(encoding="utf-8")
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start:
        raise SystemExit(f"{doc} has no headline markers ({HEADLINE_START!r} … {HEADLINE_END!r})")
    section = f"{HEADLINE_START}\n{headline}\n![the headline numbers](benchmarks/{plot_name})\n"
    doc.write_text(text[:start] + section + text[end:], encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="the default sizes, 2 runs each unless --runs says")
    sizes.add_argument("--full", action="store_true", help="bigger sizes (about 25 minutes)")
    parser.add_argument("--runs", type=int, help="runs of each benchmark (default 3; 2 with --quick)")
    parser.add_argument("--only", action="append", choices=[b.name for b in BENCHES] + ["reconnect"],
                        help="run only these (repeatable); written to build/benchmarks unless --out, "
                             "docs/benchmarks.md left alone")
    parser.add_argument("--out", type=Path, help="folder for JSON, Markdown and PNG (default docs/benchmarks; "
                                                 "docs/benchmarks.md is then left alone)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    out = args.out or (REPO / "build" / "benchmarks" if args.only else REPO / "docs" / "benchmarks")
    started = time.monotonic()
    results = {
        "mode": "quick" if args.quick else "full" if args.full else "standard", "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "when": time.strftime("%Y-%m-%d %H:%M"), "commit": commit()},
        "benches": {},
    }
    for bench in BENCHES:
        if (args.only and bench.name not in args.only) or (bench.opt_in and not args.only):
            continue
        print(f"running {bench.name} ({runs} runs) ...", flush=True)
        results["benches"][bench.name] = run_bench(bench, args.full, runs)
        if "skipped" in results["benches"][bench.name]:
            print(f"  skipped: {results['benches'][bench.name]['skipped']}", flush=True)
    if not args.only or "reconnect" in args.only:
        print("running reconnect ...", flush=True)
        try:
            results["benches"]["reconnect"] = bench_reconnect(args.full)
        except Exception as exc:  # noqa: BLE001 - report and go on with the rest
            results["benches"]["reconnect"] = {"error": repr(exc), "metrics": {}, "runs": [],
                                               "load": spread([load1()]), "baseline": ""}
    elapsed = time.monotonic() - started
    results["minutes"] = elapsed / 60
    out.mkdir(parents=True, exist_ok=True)
    headline = table(results)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "results.md").write_text(headline, "utf-8")
    plot(results, out / "results.png")
    print()
    print(headline)
    if args.out is None and not args.only:
        update_doc(DOC, headline, "results.png")
        print(f"wrote {out / 'results.json'}, results.md, results.png and the headline of {DOC.relative_to(REPO)}")
    else:
        print(f"wrote {out / 'results.json'}, results.md and results.png")
    if results["mode"] == "standard" and runs == 3 and not args.only and elapsed > STANDARD_BUDGET_S:
        print(f"the run took {elapsed / 60:.1f} minutes, over its budget of {STANDARD_BUDGET_S / 60:.0f} "
              f"(a busy machine? the load column says); trim the standard sizes if it stays so", file=sys.stderr)
    failed = [n for n, r in results["benches"].items() if r.get("error")]
    for name in failed:
        print(f"{name} failed: {results['benches'][name]['error'][-800:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
