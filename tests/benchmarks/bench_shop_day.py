"""Benchmark: what issue 24's server work costs — appending (the Redis append script now also
reads the shop's open/closed state and may mark an order), and the day's figures.

    .venv/bin/python -m tests.benchmarks.bench_shop_day --baseline /tmp/old-tree [--runs 5]

where /tmp/old-tree is `git worktree add --detach /tmp/old-tree main` (the server before). Each
run, alternately in this tree and in the baseline's (a fresh process each, PYTHONPATH pointing at
the tree), appends the same day of a busy shop straight into the store — 2,000 orders, each
accepted by a decision, in group-commit batches of 20, the way the server's batcher sends them —
on SQLite (a fresh data folder) and on a redis-server (AOF, appendfsync everysec, emptied
first), and times it. This tree then also computes the day's figures from that store
(`events_since` + `today.figures`, what `GET …/today` does), 5 times. Prints median and range
over the runs, and the load average before and after (this machine is shared: compare the two
trees' rows of one run, not runs of different days).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 2000
BATCH = 20


def _items(shop: str, start: int, count: int):
    from notifier.server.store import Appending

    items = []
    for n in range(start, start + count):
        order = {"kind": "new_order", "order_id": str(n), "amount": "25.50", "currency": "CNY"}
        items.append(Appending(shop, order, f"n{n:015d}o", None, b"o"))
        decision = {"kind": "accepted", "order_id": str(n), "text": None, "occurred_at": None}
        items.append(Appending(shop, decision, f"n{n:015d}d", None, b"d", callback=True))
    return items


def measure(kind: str, where: str) -> dict:
    """In the tree on sys.path: append the day, time it; then, where there is today.py, the figures."""
    if kind == "sqlite":
        from notifier.server.store import EventStore

        store = EventStore(where)
    else:
        import redis

        from notifier.server.redis_store import RedisEventStore

        redis.Redis.from_url(where).flushall()
        store = RedisEventStore.from_url(where)
    store.add_shop("busy")
    started = time.perf_counter()
    for first in range(0, ORDERS, BATCH // 2):
        store.append_many(_items("busy", first, BATCH // 2))
    append_s = time.perf_counter() - started
    result = {"events_per_s": 2 * ORDERS / append_s}
    try:
        from notifier.server import today
    except ImportError:
        store.close()
        return result
    times = []
    for _ in range(5):
        started = time.perf_counter()
        figures = today.figures(store.events_since("busy", 0.0), 0.0, time.time() + 1)
        times.append(time.perf_counter() - started)
    assert figures["valid_orders"] == ORDERS, figures
    result["today_ms"] = 1000 * statistics.median(times)
    store.close()
    return result


def _child(tree: Path, kind: str, where: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", "import json, sys; from tests.benchmarks.bench_shop_day import "
                           "measure; print(json.dumps(measure(sys.argv[1], sys.argv[2])))", kind, where],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a tree of the project before this work")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "server")]
    from redis_helpers import RedisServer

    baseline = args.baseline.resolve()
    # The baseline tree has no copy of this script: put one there, so its runs import nothing of
    # this tree.
    (baseline / "tests" / "benchmarks").mkdir(parents=True, exist_ok=True)
    (baseline / "tests" / "benchmarks" / "bench_shop_day.py").write_bytes(Path(__file__).read_bytes())
    load_before = os.getloadavg()
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", fsync="everysec")
        server.start()
        try:
            for run in range(args.runs):
                for name, tree in (("baseline", baseline), ("this tree", ROOT)):
                    for kind in ("sqlite", "redis"):
                        where = str(Path(tmp) / f"{name}-{run}") if kind == "sqlite" else server.url
                        rows.setdefault((name, kind), []).append(_child(tree, kind, where))
        finally:
            server.stop()
    load_after = os.getloadavg()
    print(f"{ORDERS:,} orders + {ORDERS:,} decisions, batches of {BATCH}, {args.runs} runs each, alternating")
    print(f"load average before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}")
    print("| tree | store | appends/s, median (range) | the day's figures, ms, median (range) |")
    print("|---|---|---:|---:|")
    for (name, kind), results in rows.items():
        today_ms = [r["today_ms"] for r in results if "today_ms" in r]
        print(f"| {name} | {kind} | {_summary([r['events_per_s'] for r in results])} | "
              f"{_summary(today_ms) if today_ms else '—'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
