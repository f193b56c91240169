"""The headline that run_all.py writes (issue 27): every number a median with its range, the
baseline of the same runs beside it, a goal judged from the median, and a number the machine
could not measure said as such instead of silently left out. Runs real (tiny) benchmark
processes through `run_bench`, as the full run does."""

from __future__ import annotations

import sys

from tests.benchmarks import run_all

# A "benchmark" printing its run number into the values: three runs give 1, 2, 3 (ours) and
# 11, 12, 13 (the baseline); it says it skipped the part the machine lacks, as bench_print does.
SCRIPT = """
import pathlib, sys
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print(f"ours p50 {n}.5 ms, bare p50 {n + 10}.5 ms")
print("  system: no CUPS queue PDF; skipped")
"""


def test_the_headline_gives_median_range_baseline_goal_and_what_was_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "REPO", tmp_path)
    bench = run_all.Bench(
        "tiny", ["-c", SCRIPT, str(tmp_path / "counter")], [], [
            run_all._m("tiny: p50", r"ours p50 NUM ms", "ms", r"bare p50 NUM ms", goal=2.0),
            run_all._m("tiny: spooler p50", r"spooled p50 NUM ms", "ms"),
        ], 60, baseline="bare")
    result = run_all.run_bench(bench, full=False, runs=3)
    assert [run["exit_code"] for run in result["runs"]] == [0, 0, 0]
    results = {"mode": "standard", "runs": 3, "minutes": 0.1, "benches": {"tiny": result},
               "machine": {"when": "today", "commit": "abc", "cpus": 2, "python": sys.version.split()[0]}}
    headline = run_all.table(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in headline.splitlines() if line.startswith("| tiny")}
    assert rows["tiny: p50"] == "| tiny: p50 | 2.5 (1.5–3.5) | bare: 12.5 (11.5–13.5) | ms | ≤ 2 | NO |"
    assert "| tiny: spooler p50: not measured (system: no CUPS queue PDF; skipped) | | | | | |" in headline
    assert "| tiny | 3 |" in headline  # the runs and their load average
