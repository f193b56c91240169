"""One shop's bad callback URL, dead or hostile back end, or a store that goes away for a moment
never costs another shop its callbacks: real `notifier server` processes (SIGTERMed and started
again), a real redis-server, and real HTTP back ends on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import time

from helpers import free_port, wait_until
from redis_helpers import RedisServer
from server_helpers import HttpBackEnd, ServerProcess
from test_callback_deliveries import Receiver, decide
from test_store_and_cli import run_notifier

BOTH_STORES = True

BAD_URL = "http://shop..example/cb"  # an empty label: the resolver raises UnicodeError


def plant_callback_url(location, shop: str, url: str) -> None:
    """Put a URL into the store the way an older server let `set-callback` do, unchecked."""
    if location.url:
        from notifier.server.redis_store import CALLBACK_SHOPS_KEY, meta_key

        store = location.open()
        store.client.hset(meta_key(shop), "callback_url", url)
        store.client.sadd(CALLBACK_SHOPS_KEY, shop)
    else:
        db = sqlite3.connect(location.data_dir / "events.sqlite3")
        with db:
            db.execute("UPDATE shops SET callback_url=? WHERE name=?", (url, shop))
        db.close()


def gateway(location, tmp_path, name: str = "gw") -> ServerProcess:
    return ServerProcess(location.data_dir, free_port(), store_url=location.url, log_file=tmp_path / f"{name}.log",
                         log_level="INFO")


def stop_cleanly(server: ServerProcess) -> int:
    server.stop()
    return server.proc.returncode


def test_a_bad_callback_url_of_one_shop_stops_no_other_shops_callbacks_also_after_a_restart(
        tmp_path, store_location):
    store = store_location.open()
    typo = store.add_shop("typo")
    shops = {f"shop-{i}": store.add_shop(f"shop-{i}") for i in range(5)}
    receiver = Receiver(free_port(), {name: creds.ingest_secret for name, creds in shops.items()})
    for name in shops:
        store.set_callback(name, receiver.url)
    plant_callback_url(store_location, "typo", BAD_URL)
    server = gateway(store_location, tmp_path)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert decide(base, "typo", typo.client_token, "1")[0] == 201
        expected = set()
        for name, creds in shops.items():
            status, answer = decide(base, name, creds.client_token, "1")
            assert status == 201
            expected.add(answer["event_id"])
        wait_until(lambda: set(receiver.delivered()) >= expected, 10, interval=0.05,
                   message="the other shops' callbacks")
        assert stop_cleanly(server) == 0, "SIGTERM ends the server with status 0"
        server.start()  # the typo's delivery is due again at once
        status, answer = decide(base, "shop-0", shops["shop-0"].client_token, "2")
        assert status == 201
        wait_until(lambda: answer["event_id"] in receiver.delivered(), 10, interval=0.05,
                   message="a callback after the restart")
        assert stop_cleanly(server) == 0
        logged = (tmp_path / "gw.log").read_text()
        typo_lines = [line for line in logged.splitlines() if "callbacks of typo" in line]
        assert typo_lines and "no valid host name" in typo_lines[0], logged[-2000:]
        assert len(typo_lines) <= 2, "one line per start (retries within a minute are counted, not logged)"
        assert "Traceback" not in logged
        assert [p[0] for p in store_location.open().pending_deliveries("typo")], "kept, to be retried"
    finally:
        server.stop()
        receiver.close()


def test_set_callback_refuses_a_url_the_resolver_cannot_take(store_location):
    store = store_location.open()
    store.add_shop("typo")
    done = run_notifier("server", *store_location.args, "set-callback", "typo", "--callback-url", BAD_URL)
    assert done.returncode == 2, done.stderr
    assert "has no valid host name" in done.stderr and "Traceback" not in done.stderr
    assert store.callback_url("typo") is None


def test_redis_going_away_under_a_delivery_does_not_end_callbacks(tmp_path):
    """Redis only (its own redis-server, SIGKILLed and started again on its AOF): the back end
    answers 200 while Redis is down, so the delivery cannot be recorded as done."""
    from notifier.server.redis_store import RedisEventStore

    redis = RedisServer(tmp_path / "redis")
    redis.start()
    store = RedisEventStore.from_url(redis.url)
    creds = store.add_shop("noodle")
    receiver = Receiver(free_port(), creds.ingest_secret)
    store.set_callback("noodle", receiver.url)
    store.close()
    server = ServerProcess(tmp_path / "gw", free_port(), "--callback-lease", "3", store_url=redis.url,
                           log_file=tmp_path / "gw.log", log_level="INFO")
    base = f"http://127.0.0.1:{server.port}"
    try:
        server.start()
        receiver.hold.clear()
        status, first = decide(base, "noodle", creds.client_token, "1")
        assert status == 201
        wait_until(lambda: receiver.calls, 10, interval=0.02, message="the first attempt")
        redis.kill()
        receiver.hold.set()
        wait_until(lambda: receiver.answered, 5, interval=0.01, message="the back end's answer")
        time.sleep(1.0)  # the outage itself: Redis stays down a moment after the 200
        redis.start()
        later = []
        for order in ("2", "3"):
            status, answer = wait_until(lambda o=order: _decided(base, creds.client_token, o), 10, interval=0.05,
                                        message="a decision once Redis is back")
            later.append(answer["event_id"])
        wait_until(lambda: set(receiver.delivered()) >= {first["event_id"], *later}, 15, interval=0.05,
                   message="every decision called back, the first again after its lease")
        server.stop()
        assert server.proc.returncode == 0
        assert "Traceback" not in (tmp_path / "gw.log").read_text()
    finally:
        server.stop()
        receiver.close()
        redis.stop()


def _decided(base: str, token: str, order: str):
    try:
        status, answer = decide(base, "noodle", token, order)
    except OSError:
        return None
    return (status, answer) if status == 201 else None


class HugeAnswers(HttpBackEnd):
    """A back end that answers every callback 200 with a body of `size` bytes, written as long as
    the caller reads (generated, never held in memory here)."""

    def __init__(self, size: int):
        self.calls = 0

        def respond(handler, _body: bytes) -> None:
            self.calls += 1
            handler.send_response(200)
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    handler.wfile.write(chunk)
            except OSError:
                pass  # the caller closed the connection: what a careful caller does

        super().__init__(respond)


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def test_a_back_end_answering_a_huge_body_costs_the_server_no_memory(tmp_path):
    """The store does not matter here (SQLite)."""
    from notifier.server.store import EventStore

    store = EventStore(tmp_path / "srv")
    creds = store.add_shop("noodle")
    backend = HugeAnswers(128 * 1024 * 1024)
    store.set_callback("noodle", backend.url)
    server = ServerProcess(tmp_path / "srv", free_port(), log_file=tmp_path / "gw.log")
    server.start()
    try:
        before = peak_rss_mib(server.proc.pid)
        base = f"http://127.0.0.1:{server.port}"
        for order in range(10):
            assert decide(base, "noodle", creds.client_token, str(order))[0] == 201
        wait_until(lambda: not store.pending_deliveries("noodle"), 30, interval=0.05,
                   message="ten callbacks answered 200")
        assert backend.calls == 10, "each answered once: the 200 counted without its body"
        grown = peak_rss_mib(server.proc.pid) - before
        assert grown < 40, f"the server's peak memory grew by {grown:.0f} MiB for ten 128 MiB answers"
    finally:
        server.stop()
        backend.close()
        store.close()


def test_looking_for_due_callbacks_costs_the_same_with_many_shops_that_have_a_callback_url(redis_server):
    """Redis only: the claim reads the due index, then runs its script for the due shops only
    (the old sweep ran one per shop with a callback URL: 20,000 shops froze the gateway)."""
    from notifier.server.redis_store import RedisEventStore
    from notifier.server.store import Appending

    with redis_server.client() as client:
        client.flushall()
    store = RedisEventStore.from_url(redis_server.url)
    try:
        for n in range(300):
            store.add_shop(f"s{n}")
            store.set_callback(f"s{n}", "https://shop.example/cb")
        decision = {"kind": "accepted", "order_id": "5", "text": None, "occurred_at": None}
        store.append_many([Appending("s7", decision, "nonce-0000000001", None, b"x", callback=True)])
        store.client.config_resetstat()
        claimed, _ = store.claim_deliveries(30.0)
        scripts = store.client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        assert [d.shop for d in claimed] == ["s7"]
        assert scripts <= 2, f"{scripts} scripts for one due shop among 300 with a callback URL"
        # A delivery queued without its pointer (an older server, a crash between append and
        # index) is found by the rebuild of the index.
        store.append_many([Appending("s9", decision, "nonce-0000000002", None, b"x", callback=True)])
        from notifier.server.redis_store import CALLBACKS_DUE_SHOPS_KEY

        store.client.zrem(CALLBACKS_DUE_SHOPS_KEY, "s9")
        assert store.claim_deliveries(30.0)[0] == []
        assert store.reindex_deliveries() >= 1
        assert [d.shop for d in store.claim_deliveries(30.0)[0]] == ["s9"]
    finally:
        store.close()


def test_a_back_end_that_never_answers_delays_no_other_shops_callbacks(make_server):
    """200 decisions queued for a shop whose back end takes every call and never answers."""
    server = make_server(shops=("dead", "alive"), decisions_per_second=1000)
    dead = Receiver(free_port(), server.shops["dead"].ingest_secret)
    dead.hold.clear()
    alive = Receiver(free_port(), server.shops["alive"].ingest_secret)
    try:
        server.store.set_callback("dead", dead.url)
        server.store.set_callback("alive", alive.url)
        for order in range(200):
            assert decide(server.http_url, "dead", server.shops["dead"].client_token, str(order))[0] == 201
        wait_until(lambda: dead.calls, 5, interval=0.02, message="the dead back end is being called")
        status, answer = decide(server.http_url, "alive", server.shops["alive"].client_token, "1")
        assert status == 201
        # Within 5 s (at once, really): before, it waited behind batches of the dead shop's calls,
        # 10 s each until they timed out.
        wait_until(lambda: answer["event_id"] in alive.delivered(), 5, interval=0.01,
                   message="the other shop's callback, while the dead back end holds its own")
        assert len(dead.calls) <= 8, "the dead back end holds a few requests, not the whole queue's"
    finally:
        dead.close()
        alive.close()
