"""Run every benchmark against the real servers, then print one table and write JSON and a PNG plot.

    .venv/bin/python tests/benchmarks/run_all.py --quick   # ~2-3 min
    .venv/bin/python tests/benchmarks/run_all.py           # full sizes

Each bench script (bench_ledger, bench_listener, bench_server, bench_amqp, bench_desktop, bench_print,
bench_accept) runs as
its own process with its own arguments; its printed numbers are picked out of its output, so the
scripts stay plain "print the numbers" scripts. The desktop benchmark needs the harness session:
outside it, this script starts one (dbus-run-session + tests/harness/desktop-session). The RabbitMQ
benchmark is skipped, with the reason, when no broker answers. One measurement lives here because
no script had it yet: reconnect time after a 5 s server outage and after a half-open (frozen)
connection, against the sky-take-out double.

Output (default folder docs/benchmarks/): results.json (every number, the raw output of every
script, the machine) and results.png (drawn with Qt's QPainter off screen: no matplotlib needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY", "NO_PROXY")
NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


@dataclass
class Metric:
    name: str
    pattern: str  # regex on the script's output; the group numbered `group` is the value
    unit: str
    group: int = 1
    goal: float | None = None  # the goal, when it sets one
    lower_is_better: bool = True


@dataclass
class Bench:
    name: str
    quick: list[str]
    full: list[str]
    metrics: list[Metric]
    timeout: float
    needs_session: bool = False
    needs: str | None = None  # a command that must exist
    opt_in: bool = False  # runs only when named with --only (the soak takes 30 minutes)
    result: dict = field(default_factory=dict)


def _m(name, pattern, unit, **kw) -> Metric:
    return Metric(name, pattern.replace("NUM", NUM), unit, **kw)


BENCHES = [
    Bench("ledger", ["-m", "tests.benchmarks.bench_ledger", "--events", "2000"],
          ["-m", "tests.benchmarks.bench_ledger", "--events", "5000"], [
              _m("ledger record, one per transaction", r"record \(one per transaction\).*?: NUM events/s", "events/s",
                 lower_is_better=False),
              _m("ledger record_many, batches", r"record_many .*?: NUM events/s", "events/s", lower_is_better=False),
              _m("ledger record of known events", r"already-known events.*?: NUM events/s", "events/s",
                 lower_is_better=False),
          ], 300),
    Bench("listener", ["-m", "tests.benchmarks.bench_listener", "--orders", "200", "--idle", "10"],
          ["-m", "tests.benchmarks.bench_listener", "--orders", "1000", "--idle", "60"], [
              _m("listen: frame -> JSON line p50", r"latency over.*?p50 NUM ms", "ms"),
              _m("listen: frame -> JSON line p99", r"latency over.*?p99 NUM ms", "ms"),
              _m("listen: idle CPU", r"idle over.*?= NUM % of one core", "% core", goal=0.0),
              _m("listen: idle RSS", r"idle over.*?RSS NUM MiB", "MiB", goal=80.0),
          ], 600),
    Bench("server", ["tests/benchmarks/bench_server.py", "--quick"], ["tests/benchmarks/bench_server.py"], [
              _m("server: streams held (last step)", r"(?s).*server holds\s+NUM streams", "streams",
                 lower_is_better=False),
              _m("server: RSS at that step", r"(?s).*server holds\s+[0-9]+ streams; RSS\s+NUM MiB", "MiB"),
              _m("server: publish -> client p50", r"deliveries.*?p50 NUM ms", "ms"),
              _m("server: publish -> client p99", r"deliveries.*?p99 NUM ms", "ms"),
              _m("server: signed ingest", r"NUM requests/s accepted", "req/s", lower_is_better=False),
          ], 900),
    Bench("amqp", ["tests/benchmarks/bench_amqp.py", "--backlog", "1000", "--seconds", "5"],
          ["tests/benchmarks/bench_amqp.py"], [
              _m("amqp: queue -> ledger, prefetch 20", r"prefetch\s+20:\s+NUM messages/s", "msg/s",
                 lower_is_better=False),
              _m("amqp: publish -> ledger p50", r"latency publish->ledger.*?p50 NUM ms", "ms"),
              _m("amqp: publish -> ledger p99", r"latency publish->ledger.*?p99 NUM ms", "ms"),
          ], 600, needs="rabbitmqctl"),
    Bench("desktop", ["tests/benchmarks/bench_desktop.py", "--orders", "200", "--launches", "3", "--burst", "1000",
                      "--idle", "20"],
          ["tests/benchmarks/bench_desktop.py", "--orders", "500", "--launches", "5", "--burst", "1000"], [
              _m("app: launch -> connected (median)", r"launch -> connected: median NUM ms", "ms", goal=400.0),
              _m("app: frame -> notification p50", r"Notify on bus.*?p50 NUM ms", "ms", goal=1.5),
              _m("app: frame -> notification p95", r"Notify on bus.*?p95 NUM ms", "ms"),
              _m("app: frame -> notification p99", r"Notify on bus.*?p99 NUM ms", "ms", goal=5.0),
              _m("app: idle RSS", r"idle: RSS NUM MB", "MB", goal=80.0),
              _m("app: idle CPU", r"idle: RSS .*?CPU NUM %", "% core", goal=0.0),
              _m("app + speech helper: idle PSS", r"idle: RSS .*?PSS app \+ [0-9]+ speech helper\(s\) NUM MB",
                 "MB", goal=100.0),
              _m("app: burst, all in the ledger after", r"burst of .*?after NUM ms", "ms", goal=1000.0),
              _m("app: burst, notifications shown", r"burst of .*?; NUM notifications", "popups"),
              _m("app: burst, longest main-thread stall", r"main-thread round trip max NUM ms", "ms", goal=100.0),
          ], 900, needs_session=True),
    Bench("print", ["-m", "tests.benchmarks.bench_print", "--orders", "20", "--system-orders", "5", "--burst", "50"],
          ["-m", "tests.benchmarks.bench_print"], [
              _m("print: order on disk -> ESC/POS ticket p50 (text)",
                 r"escpos/gb18030(?:.|\n)*?order on disk -> ticket at the printer: p50 NUM ms", "ms"),
              _m("print: order on disk -> ESC/POS ticket p99 (text)",
                 r"escpos/gb18030(?:.|\n)*?order on disk -> ticket at the printer: p50 [0-9.]+ ms, p99 NUM ms", "ms"),
              _m("print: order on disk -> ESC/POS ticket p50 (image)",
                 r"escpos/image(?:.|\n)*?order on disk -> ticket at the printer: p50 NUM ms", "ms"),
              _m("print: burst, tickets/s (text)", r"escpos/gb18030(?:.|\n)*?burst of [0-9]+: .*?\(NUM tickets/s\)",
                 "tickets/s", lower_is_better=False),
              _m("print: order on disk -> CUPS spooler p50", r"job accepted by the spooler: p50 NUM ms", "ms"),
          ], 600),
    Bench("accept", ["-m", "tests.benchmarks.bench_accept", "--rounds", "30"],
          ["-m", "tests.benchmarks.bench_accept", "--rounds", "100"], [
              _m("accept: click -> server's answer p50", r'"click_to_server_answer": \{\s*"p50_ms": NUM', "ms"),
              _m("accept: click -> silence on the other PC p50", r'"click_to_silence_on_b": \{\s*"p50_ms": NUM', "ms"),
              _m("accept: click -> silence on the other PC p99",
                 r'"click_to_silence_on_b": \{\s*"p50_ms": [0-9.]+,\s*"p99_ms": NUM', "ms", goal=1000.0),
          ], 600),
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
    """None when RabbitMQ answers, else why not."""
    try:
        done = subprocess.run(["rabbitmqctl", "-q", "status"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"rabbitmqctl: {exc}"
    return None if done.returncode == 0 else "no RabbitMQ broker running (.ci/setup.d/50-rabbitmq.sh starts one)"


def run_bench(bench: Bench, quick: bool) -> dict:
    args = bench.quick if quick else bench.full
    command = [sys.executable, *args]
    if bench.needs and not shutil.which(bench.needs):
        return {"skipped": f"{bench.needs} not installed"}
    if bench.name == "amqp" and (why := _broker_answers()):
        return {"skipped": why}
    if bench.needs_session and os.environ.get("NOTIFIER_TEST_SESSION") != "1":
        if not shutil.which("dbus-run-session"):
            return {"skipped": "dbus-run-session not installed"}
        command = ["dbus-run-session", "--", str(REPO / "tests/harness/desktop-session"), *command]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=bench.timeout)
        output, code = done.stdout, done.returncode
        errors = done.stderr[-3000:]
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, errors = -1, f"timed out after {bench.timeout:g} s"
    result = {"command": " ".join(args), "seconds": round(time.monotonic() - started, 1),
              "exit_code": code, "output": output, "metrics": {}}
    if code != 0:
        result["error"] = errors
    for metric in bench.metrics:
        match = re.search(metric.pattern, output)
        if match:
            result["metrics"][metric.name] = {
                "value": float(match.group(metric.group).replace(",", "")), "unit": metric.unit,
                "goal": metric.goal, "lower_is_better": metric.lower_is_better,
            }
    return result


# -- the one measurement no script had: reconnects ---------------------------------------------


def bench_reconnect(quick: bool) -> dict:
    """Time to connected after a 5 s outage (server stopped, then started on the same port) and
    after a half-open connection (server process frozen with SIGSTOP), sky-take-out double."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    from notifier.core.connection import ConnState
    from notifier.core.ledger import Ledger
    from notifier.core.secrets import MemorySecrets
    from tests.fakes.running_source import RunningSource, sky_settings
    from tests.fakes.skytakeout_server import DoubleProcess, SkyTakeOutDouble

    for name in PROXY_VARS:
        os.environ.pop(name, None)
    rounds = 2 if quick else 5
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
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    lines = [f"5 s outage, server back -> connected: {', '.join(f'{v * 1000:.0f}' for v in outage)} ms",
             f"half-open (SIGSTOP), pings 5 s + 2 s: noticed after {', '.join(f'{v:.1f}' for v in frozen_noticed)} s; "
             f"thawed -> connected {', '.join(f'{v * 1000:.0f}' for v in thawed)} ms"]
    metric = lambda v, unit, goal=None: {"value": round(v, 3), "unit": unit, "goal": goal,  # noqa: E731
                                         "lower_is_better": True}
    return {"command": "run_all.py (built in)", "seconds": round(time.monotonic() - started, 1), "exit_code": 0,
            "output": "\n".join(lines) + "\n", "metrics": {
                "reconnect: 5 s outage, back -> connected (median)": metric(median(outage) * 1000, "ms", 3000.0),
                "reconnect: half-open noticed after (median)": metric(median(frozen_noticed), "s", 7.0),
                "reconnect: half-open, thawed -> connected (median)": metric(median(thawed) * 1000, "ms"),
            }}


# -- output -----------------------------------------------------------------------------------


def _meets(m: dict) -> str:
    if m["goal"] is None:
        return ""
    ok = m["value"] <= m["goal"] if m["lower_is_better"] else m["value"] >= m["goal"]
    return "yes" if ok else "NO"


def table(results: dict, *, markdown: bool = False) -> str:
    rows = [("benchmark", "value", "unit", "goal", "met")]
    for name, result in results["benches"].items():
        if "skipped" in result:
            rows.append((f"{name}: skipped ({result['skipped']})", "", "", "", ""))
            continue
        if result.get("error") and not result["metrics"]:
            rows.append((f"{name}: failed (exit {result['exit_code']})", "", "", "", ""))
        for metric, m in result["metrics"].items():
            goal = "" if m["goal"] is None else ("≤ " if m["lower_is_better"] else "≥ ") + f"{m['goal']:g}"
            rows.append((metric, f"{m['value']:,.2f}".rstrip("0").rstrip("."), m["unit"], goal, _meets(m)))
    if markdown:
        machine = results["machine"]
        lines = [f"{results['mode'].capitalize()} run, {machine['when']}, {machine['cpus']} CPUs, "
                 f"Python {machine['python']} (`tests/benchmarks/run_all.py`):", "",
                 "| " + " | ".join(rows[0]) + " |", "|---|---:|---|---:|---|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for i, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def plot(results: dict, path: Path) -> None:
    """Horizontal bars, one panel per unit (ms, MiB, per-second rates), drawn with QPainter."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    panels: dict[str, list[tuple[str, dict]]] = {}
    for result in results["benches"].values():
        for name, m in result.get("metrics", {}).items():
            panels.setdefault(m["unit"], []).append((name, m))
    order = ["ms", "s", "MiB", "MB", "% core", "events/s", "req/s", "msg/s", "streams", "popups"]
    units = sorted(panels, key=lambda u: order.index(u) if u in order else 99)
    width, row_h, head_h, label_w = 1100, 26, 34, 430
    height = 60 + sum(head_h + row_h * len(panels[u]) + 14 for u in units)
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    title = QFont()
    title.setPointSize(13)
    title.setBold(True)
    body = QFont()
    body.setPointSize(9)
    p.setFont(title)
    p.drawText(QRectF(16, 10, width - 32, 30), Qt.AlignmentFlag.AlignLeft,
               f"Order Notifier benchmarks — {results['mode']} run, {results['machine']['when']}, "
               f"{results['machine']['cpus']} CPUs")
    y = 50.0
    bar_w = width - label_w - 130
    for unit in units:
        items = panels[unit]
        p.setFont(title)
        p.drawText(QRectF(16, y, width, head_h), Qt.AlignmentFlag.AlignVCenter, unit)
        y += head_h
        top = max(max(m["value"], m["goal"] or 0) for _n, m in items) or 1.0
        p.setFont(body)
        for name, m in items:
            p.setPen(QColor("#222"))
            p.drawText(QRectF(16, y, label_w - 24, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, name)
            met = _meets(m)
            colour = {"yes": "#3a9a5b", "NO": "#d0543f"}.get(met, "#4f7fc0")
            w = max(1.0, bar_w * m["value"] / top)
            p.fillRect(QRectF(label_w, y + 5, w, row_h - 10), QColor(colour))
            if m["goal"] is not None:
                gx = label_w + bar_w * m["goal"] / top
                p.setPen(QColor("#111"))
                p.drawLine(int(gx), int(y + 2), int(gx), int(y + row_h - 2))
            p.setPen(QColor("#222"))
            p.drawText(QRectF(label_w + w + 6, y, 200, row_h), Qt.AlignmentFlag.AlignVCenter,
                       f"{m['value']:,.2f}".rstrip("0").rstrip(".") + (f"  (goal {m['goal']:g})" if m["goal"] is not None else ""))
            y += row_h
        y += 14
    p.end()
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, about 2-3 minutes in all")
    parser.add_argument("--only", action="append", choices=[b.name for b in BENCHES] + ["reconnect"],
                        help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks", help="folder for JSON and PNG")
    args = parser.parse_args()
    results = {
        "mode": "quick" if args.quick else "full",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "when": time.strftime("%Y-%m-%d %H:%M")},
        "benches": {},
    }
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        if bench.opt_in and not args.only:
            continue
        print(f"running {bench.name} ...", flush=True)
        results["benches"][bench.name] = run_bench(bench, args.quick)
        outcome = results["benches"][bench.name]
        print(f"  {outcome.get('skipped') or str(outcome.get('seconds')) + ' s'}", flush=True)
    if not args.only or "reconnect" in args.only:
        print("running reconnect ...", flush=True)
        try:
            results["benches"]["reconnect"] = bench_reconnect(args.quick)
        except Exception as exc:  # noqa: BLE001 - report and go on with the rest
            results["benches"]["reconnect"] = {"exit_code": 1, "error": repr(exc), "metrics": {}, "output": ""}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    plot(results, args.out / "results.png")
    (args.out / "results.md").write_text(table(results, markdown=True), "utf-8")
    print()
    print(table(results))
    print(f"\nwrote {args.out / 'results.json'}, results.md and results.png")
    failed = [n for n, r in results["benches"].items() if r.get("error")]
    for name in failed:
        print(f"{name} failed: {results['benches'][name]['error'][-800:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
