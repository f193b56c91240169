"""Benchmark of the RabbitMQ source against the local broker (.ci/setup.d/50-rabbitmq.sh):

1. throughput: messages per second from a full queue into the ledger (the source drains a
   backlog, as after the notifier was off for a while), for a few prefetch values;
2. latency at a steady 50 messages/s: from publish to "on disk in the ledger, observers told".

Run from the repository root (as root, for rabbitmqctl):
    .venv/bin/python tests/benchmarks/bench_amqp.py [--backlog 5000] [--rate 50] [--seconds 20]
It makes its own virtual host (deleted at the end) and uses the broker's guest account.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.intake import OrderIntake  # noqa: E402
from notifier.core.ledger import Ledger  # noqa: E402
from notifier.core.secrets import MemorySecrets  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.sources.amqp import AmqpPublisher  # noqa: E402


def ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def settings_for(vhost: str, queue: str, prefetch: int = 20) -> Settings:
    return Settings({
        "connection.protocol": "amqp",
        "connection.url": f"amqp://127.0.0.1:5672/{vhost}",
        "amqp.exchange": f"{queue}-x",
        "amqp.queue": queue,
        "amqp.prefetch": prefetch,
    })


class Consumer:
    """The source as the app runs it: OrderIntake over a real ledger, in a temp folder."""

    def __init__(self, settings: Settings, folder: Path):
        self.ledger = Ledger(folder / f"ledger-{uuid.uuid4().hex[:6]}.sqlite3")
        self.intake = OrderIntake(self.ledger, MemorySecrets())
        self.count = 0
        self.latencies: list[float] = []
        self.intake.on_order(self._order)
        self.source = self.intake.start(settings)

    def _order(self, event) -> None:
        now = time.monotonic()
        self.count += 1
        sent = json.loads(event.raw).get("sent")
        if sent is not None:
            self.latencies.append(now - sent)

    def connected(self) -> bool:
        return self.source.status.state is ConnState.CONNECTED

    def close(self) -> None:
        self.intake.stop()
        self.ledger.close()


def throughput(vhost: str, folder: Path, backlog: int, prefetch: int) -> float:
    settings = settings_for(vhost, f"bench-tp-{prefetch}-{uuid.uuid4().hex[:6]}", prefetch)
    with AmqpPublisher(settings, None) as publisher:
        for i in range(backlog):
            publisher.publish({"order_id": i, "order_amount": "12.30", "customer_name": "bench"})
    start = time.monotonic()
    consumer = Consumer(settings, folder)
    try:
        wait_for(lambda: consumer.count >= backlog, 300, "the backlog to drain")
        return backlog / (time.monotonic() - start)
    finally:
        consumer.close()


def latency(vhost: str, folder: Path, rate: float, seconds: float) -> tuple[list[float], int]:
    settings = settings_for(vhost, f"bench-lat-{uuid.uuid4().hex[:6]}")
    consumer = Consumer(settings, folder)
    total = int(rate * seconds)
    try:
        wait_for(consumer.connected, 30, "the source to connect")
        with AmqpPublisher(settings, None) as publisher:
            start = time.monotonic()
            for i in range(total):
                # Paced against the schedule, not by sleeping a fixed step, so the rate holds.
                due = start + i / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                publisher.publish({"order_id": i, "sent": time.monotonic()})
        wait_for(lambda: consumer.count >= total, 60, "all paced orders")
        return consumer.latencies, total
    finally:
        consumer.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    vhost = f"notifier-bench-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for prefetch in (1, 20, 200):
                rate = throughput(vhost, folder, args.backlog, prefetch)
                print(f"throughput queue->ledger, prefetch {prefetch:>3}: {rate:8.0f} messages/s "
                      f"({args.backlog} queued messages)")
            # Publish confirms are synchronous one by one; that caps the paced publisher well
            # above 50/s, so the schedule holds.
            latencies, total = latency(vhost, folder, args.rate, args.seconds)
            ms = [x * 1000 for x in latencies]
            print(f"latency publish->ledger at {args.rate:g} msg/s over {total} messages: "
                  f"p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
                  f"max {max(ms):.2f} ms, mean {statistics.fmean(ms):.2f} ms")
    finally:
        ctl("delete_vhost", vhost)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
