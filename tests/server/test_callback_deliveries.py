"""Callbacks to a shop's back end are queued in the decision's own transaction and delivered by
whichever server is alive: real `notifier server` processes (SIGKILLed and restarted), a real
redis-server, and a real HTTP receiver on 127.0.0.1 that counts what arrives per event id."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import free_port, wait_until
from server_helpers import ServerProcess, post_json
from test_store_and_cli import run_notifier

from notifier.core import protocol
from notifier.server.deliveries import EVENT_ID_HEADER
from notifier.server.store import EventStore

BOTH_STORES = True


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int | None:
    """Which of `pids` has the TCP socket from `local_port` to `remote_port` (from /proc)."""
    if not pids:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                ports = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
                if ports == (local_port, remote_port):
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    return None


class _Listener(ThreadingHTTPServer):
    request_queue_size = 128  # a server sends a claimed batch at once; 5 would drop SYNs (1 s retries)
    daemon_threads = True


class Receiver:
    """The shop's back end on a fixed port: counts calls per event id. `answer` decides the
    status of each call; `hold` keeps a call unanswered until it is set. `secret` is the shop's
    ingest secret, or {shop: secret} for a back end several shops call."""

    def __init__(self, port: int, secret: str | dict[str, str], answer=lambda _event_id, _n: 200,
                 senders=lambda: []):
        self.port, self.secret, self.answer = port, secret, answer
        self.calls: list[tuple[float, str, int, int | None]] = []  # (when, event id, status, sender's pid)
        self.hold = threading.Event()
        self.hold.set()
        self.bad_signatures = 0
        self.shops: dict[str, str] = {}  # event id -> the shop it came for
        self.answered = 0  # calls whose answer was written
        self.last: tuple[dict[str, str], bytes] = ({}, b"")  # the last call's headers and body
        self.bodies: dict[str, dict] = {}  # event id -> the body of its last call, as JSON
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                secret = outer.secret if isinstance(outer.secret, str) else outer.secret[json.loads(body)["shop"]]
                try:  # as docs/server.md tells a back end to check a callback
                    protocol.check_callback(secret, self.headers, body)
                except Exception:  # noqa: BLE001 - counted, and the test fails on it
                    outer.bad_signatures += 1
                event_id = self.headers[EVENT_ID_HEADER]
                outer.shops[event_id] = json.loads(body)["shop"]
                outer.last = (dict(self.headers.items()), body)
                outer.bodies[event_id] = json.loads(body)
                sender = socket_owner(self.client_address[1], outer.port, senders())
                assert json.loads(body)["event_id"] == event_id
                with outer._lock:
                    status = outer.answer(event_id, sum(1 for c in outer.calls if c[1] == event_id))
                    outer.calls.append((time.monotonic(), event_id, status, sender))
                outer.hold.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer._lock:
                    outer.answered += 1

            def log_message(self, *_args):
                pass

        self.http = _Listener(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def delivered(self) -> dict[str, int]:
        """2xx answers per event id."""
        with self._lock:
            counts: dict[str, int] = {}
            for _at, event_id, status, _peer in self.calls:
                if 200 <= status < 300:
                    counts[event_id] = counts.get(event_id, 0) + 1
            return counts

    def close(self) -> None:
        self.hold.set()
        self.http.shutdown()
        self.http.server_close()


def decide(base_url: str, shop: str, token: str, order_id: str, timeout: float = 5.0, *, action: str = "accept",
           key: str | None = None) -> tuple[int, dict]:
    status, answer, _headers = post_json(f"{base_url}/api/v1/shops/{shop}/orders/{order_id}/{action}", token,
                                         key=key, timeout=timeout)
    return status, answer


def open_store(data_dir: Path, store_url: str | None):
    if store_url:
        from notifier.server.redis_store import RedisEventStore

        return RedisEventStore.from_url(store_url)
    return EventStore(data_dir)


def stored_decisions(store, shop: str) -> set[str]:
    identity = store.shop(shop).identity
    return {f"{identity}:{seq}" for seq, _at, event in store.events_after(shop, 0, 100000)
            if event["kind"] in ("accepted", "rejected")}


def wait_for_all(receiver: Receiver, expected: set[str], deadline_s: float = 45.0) -> None:
    """Until every expected callback arrived (the refused ones were retried with backoff while
    the back end was down: the last retry is due within ~10 s of the restart), then 1 s more
    for strays."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not set(receiver.delivered()) >= expected:
        time.sleep(0.1)
    time.sleep(1.0)


@pytest.fixture
def shop_on_disk(tmp_path, store_url):
    """A shop with a callback URL (nothing listens there yet), made through the admin command."""
    data_dir = tmp_path / "srv"
    where = ["--store", store_url] if store_url else ["--data-dir", str(data_dir)]
    port = free_port()
    store = open_store(data_dir, store_url)
    creds = store.add_shop("noodle")
    store.close()
    done = run_notifier("server", *where, "set-callback", "noodle", "--callback-url",
                        f"http://127.0.0.1:{port}/callback")
    assert done.returncode == 0, done.stderr
    return data_dir, creds, port


def server_process(data_dir: Path, store_url: str | None, tmp_path: Path, name: str = "gw") -> ServerProcess:
    # On Redis what a killed server had claimed waits out the lease (SQLite releases it at start).
    extra = ("--store", store_url, "--callback-lease", "3") if store_url else ()
    # Bursts of decisions from 12 threads: far more than a shop's PCs send, let through here.
    return ServerProcess(data_dir, free_port(), *extra, "--decisions-per-second", "100000",
                         log_file=tmp_path / f"{name}.log", log_level="INFO")


def test_a_decision_answered_201_is_called_back_once_after_the_server_is_killed(tmp_path, store_url, shop_on_disk):
    data_dir, creds, port = shop_on_disk
    server = server_process(data_dir, store_url, tmp_path)
    server.start()
    receiver = None
    try:
        status, answer = decide(f"http://127.0.0.1:{server.port}", "noodle", creds.client_token, "881")
        assert status == 201
        server.kill()  # the back end was down: nothing was delivered yet
        receiver = Receiver(port, creds.ingest_secret)
        server.start()
        wait_until(lambda: receiver.delivered(), 20, interval=0.05, message="callback after the restart")
        time.sleep(1.5)  # room for a wrong second delivery
        assert receiver.delivered() == {answer["event_id"]: 1}
        assert receiver.bad_signatures == 0
    finally:
        server.stop()
        if receiver:
            receiver.close()


@pytest.mark.slow
def test_every_decision_in_the_log_is_called_back_when_the_server_dies_mid_burst(tmp_path, store_url, shop_on_disk):
    """SIGKILL while decisions are being stored: whatever made it into the shop's log has its
    callback queued with it. (The old server queued the callback in a second step after the
    append: decisions stored just before the kill were never called back.)"""
    data_dir, creds, port = shop_on_disk
    server = server_process(data_dir, store_url, tmp_path)
    base = f"http://127.0.0.1:{server.port}"
    counter = iter(range(10**6))

    def keep_deciding(stop_at: float) -> None:
        while time.monotonic() < stop_at:
            try:
                decide(base, "noodle", creds.client_token, f"o-{next(counter)}", timeout=2)
            except OSError:
                return  # the server is gone

    # Several kills at different moments: on the old server each one had a fair chance to fall
    # between a decision's commit and its callback's queueing.
    for kill_after in (0.3, 0.45, 0.6):
        server.start()
        stop_at = time.monotonic() + 5
        with ThreadPoolExecutor(12) as pool:
            for _ in range(12):
                pool.submit(keep_deciding, stop_at)
            time.sleep(kill_after)
            server.kill()
    store = open_store(data_dir, store_url)
    try:
        expected = stored_decisions(store, "noodle")
    finally:
        store.close()
    assert len(expected) > 20, "the burst stored decisions before the kill"
    receiver = Receiver(port, creds.ingest_secret)
    server.start()
    try:
        wait_for_all(receiver, expected)
        delivered = receiver.delivered()
        missing = expected - set(delivered)
        if missing:
            server.stop()
            store = open_store(data_dir, store_url)
            queued = [p for p in store.pending_deliveries("noodle") if p[0] in missing]
            store.close()
            raise AssertionError(f"{len(missing)} of {len(expected)} stored decisions never called back; "
                                 f"{len(queued)} of them still queued, e.g. {queued[:3]}")
        assert set(delivered) == expected
        assert set(delivered.values()) == {1}, "each decision called back once"
        assert receiver.bad_signatures == 0
    finally:
        server.stop()
        receiver.close()


# -- several gateways on one Redis -------------------------------------------------------------

def _redis_only(store_kind: str) -> None:
    if store_kind != "redis":
        pytest.skip("several gateways share a Redis store only")


@pytest.fixture
def two_gateways(tmp_path, store_url, store_kind):
    _redis_only(store_kind)
    gateways = [ServerProcess(tmp_path / f"gw{i}", free_port(), "--store", store_url, "--callback-lease", "3",
                              log_file=tmp_path / f"gw{i}.log", log_level="INFO") for i in range(2)]
    for gateway in gateways:
        gateway.start()
    yield gateways
    for gateway in gateways:
        gateway.stop()


def _gateway_with_pid(pid: int | None, gateways: list[ServerProcess]) -> ServerProcess:
    found = [g for g in gateways if g.proc.pid == pid]
    assert found, f"the call came from pid {pid}, not from a gateway"
    return found[0]


def test_a_callback_set_through_one_gateways_admin_command_is_sent_for_a_decision_on_another(
        tmp_path, store_url, two_gateways):
    a, b = two_gateways
    creds = run_notifier("server", "--data-dir", str(a.data_dir), "--store", store_url, "add-shop", "noodle")
    assert creds.returncode == 0, creds.stderr
    lines = dict(line.split(":", 1) for line in creds.stdout.splitlines() if line.startswith(("client", "ingest")))
    token, secret = lines["client token"].strip(), lines["ingest secret"].strip()
    receiver = Receiver(free_port(), secret)
    try:
        done = run_notifier("server", "--data-dir", str(a.data_dir), "--store", store_url, "set-callback", "noodle",
                            "--callback-url", receiver.url)
        assert done.returncode == 0, done.stderr
        status, answer = decide(f"http://127.0.0.1:{b.port}", "noodle", token, "42")
        assert status == 201
        wait_until(receiver.delivered, 10, interval=0.05, message="the callback")
        time.sleep(1.0)
        assert receiver.delivered() == {answer["event_id"]: 1}
        assert receiver.bad_signatures == 0
    finally:
        receiver.close()


def test_a_gateway_killed_while_sending_leaves_the_callback_to_the_other_after_the_lease(
        tmp_path, store_url, two_gateways):
    from notifier.server.redis_store import RedisEventStore

    store = RedisEventStore.from_url(store_url)
    try:
        creds = store.add_shop("noodle")
        # The first call hangs (its gateway still holds the claim), and its answer, to a dead
        # gateway, is a 500 anyway.
        receiver = Receiver(free_port(), creds.ingest_secret, answer=lambda _id, n: 500 if n == 0 else 200,
                            senders=lambda: [g.proc.pid for g in two_gateways])
        store.set_callback("noodle", receiver.url)
        receiver.hold.clear()
        status, answer = decide(f"http://127.0.0.1:{two_gateways[0].port}", "noodle", creds.client_token, "7")
        assert status == 201
        wait_until(lambda: receiver.calls, 10, interval=0.02, message="the first attempt")
        claimed_at, _, _, sender = receiver.calls[0]
        claimer = _gateway_with_pid(sender, two_gateways)
        other = two_gateways[1] if claimer is two_gateways[0] else two_gateways[0]
        claimer.kill()
        receiver.hold.set()
        wait_until(lambda: receiver.delivered(), 20, interval=0.05, message="the other gateway's delivery")
        second_at = receiver.calls[1][0]
        assert second_at - claimed_at >= 2.5, "not before the 3 s lease ran out"
        assert _gateway_with_pid(receiver.calls[1][3], two_gateways) is other
        time.sleep(1.0)
        assert receiver.delivered() == {answer["event_id"]: 1}
        assert store.pending_deliveries("noodle") == []
    finally:
        receiver.close()
        store.close()


def test_two_gateways_never_both_deliver_one_event(tmp_path, store_url, two_gateways):
    from notifier.server.redis_store import RedisEventStore

    store = RedisEventStore.from_url(store_url)
    # Every first attempt answers 500, so each event is due again while both gateways look.
    receiver = None
    try:
        creds = store.add_shop("noodle")
        receiver = Receiver(free_port(), creds.ingest_secret, answer=lambda _id, n: 500 if n == 0 else 200)
        store.set_callback("noodle", receiver.url)
        ids = set()
        for i in range(30):
            status, answer = decide(f"http://127.0.0.1:{two_gateways[i % 2].port}", "noodle", creds.client_token,
                                    f"n-{i}")
            assert status == 201
            ids.add(answer["event_id"])
        wait_until(lambda: set(receiver.delivered()) == ids, 30, interval=0.1, message="all 30 callbacks")
        time.sleep(1.5)
        assert set(receiver.delivered().values()) == {1}, "no event delivered twice"
        per_event = {}
        for _at, event_id, _status, _peer in receiver.calls:
            per_event[event_id] = per_event.get(event_id, 0) + 1
        assert set(per_event.values()) == {2}, "one 500 and one 2xx per event, no parallel sends"
    finally:
        if receiver:
            receiver.close()
        store.close()


# -- upgrades, migration, removal ------------------------------------------------------------

OLD_OUTBOX_SCHEMA = """
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, shop TEXT NOT NULL, url TEXT NOT NULL,
    body BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'waiting', attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, last_error TEXT, created_at REAL NOT NULL, done_at REAL
);
"""


def test_an_older_servers_callback_files_are_imported_once_and_then_left_renamed(tmp_path, make_server):
    import sqlite3

    data_dir = tmp_path / "server0"  # where make_server's first server keeps its files
    data_dir.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/callback"
    (data_dir / "callbacks.json").write_text(json.dumps({"alpha": url, "gone-shop": url}))
    old_body = b'{"event_id":"old:5","shop":"alpha","seq":5,"kind":"accepted","order_id":"9"}'
    db = sqlite3.connect(data_dir / "callbacks.sqlite3")
    db.executescript(OLD_OUTBOX_SCHEMA)
    db.executemany("INSERT INTO deliveries(event_id, shop, url, body, state, attempts, next_at, created_at) "
                   "VALUES (?, 'alpha', ?, ?, ?, 2, 0, ?)",
                   [("old:5", url, old_body, "waiting", time.time()), ("old:4", url, b"{}", "done", time.time())])
    db.commit()
    db.close()
    server = make_server()
    receiver = Receiver(port, server.shops["alpha"].ingest_secret)
    try:
        wait_until(receiver.delivered, 15, interval=0.05, message="the imported callback")
        assert server.store.callback_url("alpha") == url
        assert not (data_dir / "callbacks.json").exists() and (data_dir / "callbacks.json.imported").exists()
        assert not (data_dir / "callbacks.sqlite3").exists() and (data_dir / "callbacks.sqlite3.imported").exists()
        time.sleep(1.0)
        assert receiver.delivered() == {"old:5": 1}, "the waiting one once; the done one not again"
        assert server.store.pending_deliveries("alpha") == []
    finally:
        receiver.close()


def test_remove_shop_forgets_its_callback_and_queued_deliveries(make_server, store_kind):
    from notifier.server.store import Appending

    server = make_server()
    store = server.store
    store.set_callback("alpha", "http://127.0.0.1:9/nothing-listens")
    decision = {"kind": "accepted", "order_id": "5", "text": None, "occurred_at": None}
    store.append_many([Appending("alpha", decision, "n-1", None, b"x", callback=True),
                       Appending("alpha", {"kind": "order", "order_id": "6"}, "n-2", None, b"y", callback=False)])
    assert [event_id for event_id, _ in store.pending_deliveries("alpha")] == [f"{store.shop('alpha').identity}:1"]
    store.remove_shop("alpha")
    assert store.pending_deliveries("alpha") == []
    if store_kind == "redis":
        from notifier.server.redis_store import CALLBACK_SHOPS_KEY

        assert not store.client.keys("notifier:{alpha}:callbacks*")  # (used nonces expire by themselves)
        assert not store.client.exists("notifier:{alpha}:meta")
        assert not store.client.sismember(CALLBACK_SHOPS_KEY, "alpha")


def test_migrating_to_redis_keeps_callback_urls_and_undelivered_callbacks(tmp_path, redis_server):
    from notifier.server.migrate import RedisSide, SqliteSide, migrate
    from notifier.server.redis_store import RedisEventStore
    from notifier.server.store import Appending

    with redis_server.client() as client:
        client.flushall()
    old = EventStore(tmp_path / "old")
    old.add_shop("noodle")
    old.set_callback("noodle", "https://shop.example/cb")
    decision = {"kind": "rejected", "order_id": "5", "text": "售罄", "occurred_at": None}
    old.append_many([Appending("noodle", decision, "n-1", None, b"x", callback=True)])
    pending = old.pending_deliveries("noodle")
    old.close()
    target = RedisEventStore.from_url(redis_server.url)
    try:
        source = SqliteSide(tmp_path / "old", target=False)
        migrate(source, RedisSide(target))
        source.close()
        assert target.callback_url("noodle") == "https://shop.example/cb"
        assert target.pending_deliveries("noodle") == pending
        claimed, _ = target.claim_deliveries(5.0)
        assert [(d.event_id, json.loads(d.body)["reason"]) for d in claimed] == [(pending[0][0], "售罄")]
    finally:
        target.close()
