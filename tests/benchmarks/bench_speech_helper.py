"""How soon a new speech helper can speak: its start (a first start, or the replacement of one
that crashed) until it is ready, until its first line's words begin and end, and its CPU time.

    dbus-run-session -- tests/harness/desktop-session .venv/bin/python \
        tests/benchmarks/bench_speech_helper.py [--runs 5] [--baseline DIR]

Each run starts `python -m notifier speech-helper` as the app does, in the harness session (the
session's speech-dispatcher + espeak-ng playing into the null sink), asks it to say "1" and reads
its events; a line the helper could not say is counted, not timed. `--baseline DIR` runs the same against the package in DIR (e.g. a git worktree of an
older commit), taking turns with this tree's, so both see the same machine. Prints the median
and range of each figure and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_start(tree: Path) -> dict[str, float]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "speech-helper"], cwd=tree,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                            env={**os.environ, "PYTHONPATH": str(tree)})
    marks: dict[str, float] = {}
    watchdog = threading.Timer(60, proc.kill)  # a hung helper ends the run, not the bench
    watchdog.start()
    try:
        ready = json.loads(proc.stdout.readline() or '{"error": "the helper ended"}')
        marks["ready"] = time.monotonic() - started
        if ready.get("error"):
            raise SystemExit(f"the helper has no voice: {ready['error']}")
        proc.stdin.write(json.dumps({"op": "speak", "id": 1, "text": "1", "language": "zh_CN"}) + "\n")
        proc.stdin.flush()
        for line in proc.stdout:
            event = json.loads(line)
            marks[event["event"]] = time.monotonic() - started
            if event["event"] in ("finished", "failed"):
                break
        marks["cpu"] = cpu_seconds(proc.pid)
    finally:
        watchdog.cancel()
        proc.stdin.close()
        proc.wait(10)
    return marks  # without "finished": the line was not said (counted, not timed)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a tree with an older notifier package")
    args = parser.parse_args()
    if not os.environ.get("SPEECHD_ADDRESS"):
        print("run inside the harness session (tests/harness/desktop-session)", file=sys.stderr)
        return 2
    trees = {"this tree": ROOT}
    if args.baseline:
        if not (args.baseline / "notifier" / "__init__.py").exists():
            print(f"no notifier package in {args.baseline}", file=sys.stderr)
            return 2
        trees["baseline"] = args.baseline.resolve()
    print(f"machine: {os.cpu_count()} cores; load average at start {loadavg()}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():  # taking turns
            results[name].append(one_start(tree))
    for name, runs in results.items():
        said = [r for r in runs if "finished" in r]
        print(f"{name} ({len(runs)} starts): ready {summary([r['ready'] for r in runs])}; "
              f"helper CPU {summary([r['cpu'] for r in runs])}; "
              f"line not said {len(runs) - len(said)} of {len(runs)}")
        if said:
            print(f"  the {len(said)} said: words begin {summary([r['started'] for r in said])}; "
                  f"line over {summary([r['finished'] for r in said])}")
    print(f"load average at end {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
