"""Benchmark: accept on one PC → silence on the other (a script).

    .venv/bin/python -m tests.benchmarks.bench_accept [--rounds 100]
    .venv/bin/python -m tests.benchmarks.bench_accept --protocol skytakeout [--rounds 6]

A reference server on 127.0.0.1 (in-process, its own loop thread) with two clients of the same
shop, each with its own ledger, the way the app runs them. Each round publishes an order, waits
until both have it, then accepts it on A through the action outbox and measures
- click → answer: `OrderActions.accept` called → the server's answer to the POST read by A's
  action worker (the request was on the wire and logged before that);
- click → B silent: the same click → B's ledger has ended the order and B's `on_ended` observer
  ran (what stops the repeats on B).
Baseline in the same run: publish → both clients have the new order on disk (the same stream
path, without the outbox and the HTTP call). Prints the load average before and after.

`--protocol skytakeout`: the sky-take-out double instead, both clients with the admin account.
The back end pushes nothing on an accept, so B learns it at its next status poll (the setting
`skytakeout.status_poll_interval`, its default 15 s here). Each round waits a random 0-15 s before the click (the
owner's reaction time, seeded), so the clicks fall at every point of B's poll cycle; a round
takes up to ~30 s. Baseline: pay → both clients have the order on disk.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_helpers import Client, client_settings, start_server  # noqa: E402

from notifier.core.ledger import Ledger  # noqa: E402
from notifier.core.order_actions import OrderActions  # noqa: E402
from notifier.core.secrets import MemorySecrets  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from tests.fakes.running_source import RunningSource, sky_settings  # noqa: E402
from tests.fakes.skytakeout_server import SkyTakeOutDouble  # noqa: E402
from tests.fakes.util import wait_until  # noqa: E402

STATUS_POLL_S = Settings()["skytakeout.status_poll_interval"]  # the default a shop runs with


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            "min_ms": round(ordered[0] * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


class Moments:
    """When A's back end answered each accept, and when B stopped ringing for each order."""

    def __init__(self):
        self.answered: dict[str, float] = {}
        self.silent: dict[str, float] = {}
        self._lock = threading.Lock()

    def on_result(self, action, _ok, _sentence) -> None:
        with self._lock:
            self.answered[action.order_id] = time.perf_counter()

    def on_ended(self, _source, _server, order_id, _how, _reason, _connection_id) -> None:
        with self._lock:
            self.silent[order_id] = time.perf_counter()


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def skytakeout_rounds(rounds: int, seed: int) -> dict:
    """Accept on A, silence on B through B's status poll, against the sky-take-out double."""
    reaction = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, SkyTakeOutDouble() as double:
        tmp_path = Path(tmp)
        clients = [RunningSource(sky_settings(double, admin=True), Ledger(tmp_path / f"{name}.sqlite3"),
                                 MemorySecrets({"skytakeout_admin_password": double.password}))
                   for name in ("a", "b")]
        a, b = clients
        moments = Moments()
        b.intake.on_ended(moments.on_ended)
        actions = OrderActions(a.ledger.path, a.source, moments.on_result)
        answered, silent = moments.answered, moments.silent
        baseline, to_answer, to_silence, waited = [], [], [], []
        try:
            double.wait_for_clients(2)
            for _ in range(rounds):
                paid = time.perf_counter()
                order_id = str(double.pay()["id"])
                wait_until(lambda o=order_id: o in a.order_ids() and o in b.order_ids(), 10)
                baseline.append(time.perf_counter() - paid)
                waited.append(reaction.uniform(0, STATUS_POLL_S))
                time.sleep(waited[-1])  # the owner's reaction time (see the docstring)
                event = next(e for e in a.orders if e.order_id == order_id)
                clicked = time.perf_counter()
                actions.accept(event)
                wait_until(lambda o=order_id: o in answered and o in silent, STATUS_POLL_S + 10, interval=0.002)
                to_answer.append(answered[order_id] - clicked)
                to_silence.append(silent[order_id] - clicked)
        finally:
            actions.stop()
            for client in clients:
                client.stop()
                client.ledger.close()
    return {
        "protocol": "skytakeout", "rounds": rounds, "status_poll_s": STATUS_POLL_S, "seed": seed,
        "reaction_s": [round(w, 2) for w in waited],
        "baseline_pay_to_both_on_disk": summary(baseline),
        "click_to_server_answer": summary(to_answer),
        "click_to_silence_on_b": summary(to_silence),
        "click_to_silence_on_b_each_s": [round(t, 2) for t in to_silence],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=("notifier", "skytakeout"), default="notifier")
    parser.add_argument("--rounds", type=int, default=None, help="default 100 (notifier), 6 (skytakeout)")
    parser.add_argument("--seed", type=int, default=1, help="skytakeout: the reaction times' seed")
    args = parser.parse_args(argv)
    before = loadavg()
    if args.protocol == "skytakeout":
        result = skytakeout_rounds(args.rounds or 6, args.seed)
        result.update(loadavg_before=before, loadavg_after=loadavg())
        print(json.dumps(result, indent=2))
        return 0
    args.rounds = args.rounds or 100
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        server = start_server(tmp_path / "server", shops=("alpha",))
        token = server.shops["alpha"].client_token
        a = Client(client_settings(server.url, "alpha"), tmp_path / "a.sqlite3", token)
        b = Client(client_settings(server.url, "alpha"), tmp_path / "b.sqlite3", token)
        moments = Moments()
        b.intake.on_ended(moments.on_ended)
        actions = OrderActions(a.ledger.path, a.source, moments.on_result)
        answered, silent = moments.answered, moments.silent
        baseline, to_answer, to_silence = [], [], []
        try:
            for n in range(args.rounds):
                order_id = f"b{n}"
                published = time.perf_counter()
                server.publish("alpha", order_id=order_id)
                wait_until(lambda o=order_id: o in a.order_ids() and o in b.order_ids(), 10)
                baseline.append(time.perf_counter() - published)
                event = next(e for e in a.orders if e.order_id == order_id)
                clicked = time.perf_counter()
                actions.accept(event)
                wait_until(lambda o=order_id: o in answered and o in silent, 10)
                to_answer.append(answered[order_id] - clicked)
                to_silence.append(silent[order_id] - clicked)
        finally:
            actions.stop()
            a.stop()
            b.stop()
            server.thread.stop()
            server.store.close()
    result = {
        "rounds": args.rounds,
        "baseline_publish_to_both_on_disk": summary(baseline),
        "click_to_server_answer": summary(to_answer),
        "click_to_silence_on_b": summary(to_silence),
        "loadavg_before": before, "loadavg_after": loadavg(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
