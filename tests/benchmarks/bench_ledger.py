"""Benchmark: events per second the ledger sustains (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_ledger [--events 5000]

Three numbers on a fresh file in a temporary directory: `record` one event per transaction (how
a live source writes), `record_many` in batches of 100 (a pull or a resumed stream), and
`record` of events the ledger already has (a server re-sending).

Then the hot path as a live listener walks it (`--paced`, default 1,000 orders 5 ms apart):
the time of each `record` and of the `mark_told` after it, p50/p99/max and how many commits
took over 3 ms, with the load average. A checkpoint inside a commit shows up here as a
5-25 ms `record` once every ~200 orders.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger


def events(count: int, start: int = 0) -> list[OrderEvent]:
    return [
        OrderEvent(OrderKind.NEW_ORDER, str(n), "skytakeout", "shop:8080", order_number=f"17{n:011d}",
                   amount=Decimal("56.50"), customer="张三", text=f"订单号：17{n:011d}",
                   raw=f'{{"type":1,"orderId":{n},"content":"订单号：17{n:011d}"}}')
        for n in range(start, start + count)
    ]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} events/s ({seconds * 1e6 / count:.0f} µs each)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--paced", type=int, default=1000, help="orders for the hot-path timing (0: skip)")
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite3")
        singles = events(n)
        t0 = time.perf_counter()
        for event in singles:
            ledger.record(event)
        print(f"record (one per transaction), {n} new: {rate(n, time.perf_counter() - t0)}")

        batched = events(n * 4, start=n)
        t0 = time.perf_counter()
        for i in range(0, len(batched), args.batch):
            ledger.record_many(batched[i:i + args.batch])
        print(f"record_many (batches of {args.batch}), {len(batched)} new: "
              f"{rate(len(batched), time.perf_counter() - t0)}")

        t0 = time.perf_counter()
        for event in singles:
            assert not ledger.record(event)
        print(f"record of already-known events, {n}: {rate(n, time.perf_counter() - t0)}")
        print(f"ledger holds {ledger.count()} events, file "
              f"{sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6:.1f} MB (with WAL)")
        ledger.close()
    if args.paced:
        paced(args.paced)
    return 0


def paced(count: int, gap_s: float = 0.005) -> None:
    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        slow = sum(v > 3.0 for v in values)
        return (f"{name} p50 {statistics.median(values):.3f} ms, p99 {p99:.3f} ms, "
                f"max {ordered[-1]:.3f} ms, {slow} over 3 ms")

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite3")
        recorded, marked = [], []
        load = Path("/proc/loadavg").read_text().split()[0]
        # (A ledger from before told marks has none: the same script then measures it too.)
        mark_told = getattr(ledger, "mark_told", lambda _keys: None)
        for event in events(count):
            t0 = time.perf_counter()
            ledger.record(event)
            t1 = time.perf_counter()
            mark_told([event.key])
            t2 = time.perf_counter()
            recorded.append((t1 - t0) * 1000)
            marked.append((t2 - t1) * 1000)
            time.sleep(gap_s)
        ledger.close()
    print(f"hot path, {count} orders {gap_s * 1000:.0f} ms apart (load {load}): "
          f"{line('record', recorded)}; {line('mark_told', marked)}")


if __name__ == "__main__":
    raise SystemExit(main())
