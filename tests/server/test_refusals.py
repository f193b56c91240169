"""Every bad input and every store trouble is a 4xx or a 503 with a sentence, never a 500 or a
traceback; decisions are read like ingest reads orders and are rate-limited per shop; a Redis
that stops keeping its data on disk while the server runs stops ingest, with a reason; the log
stays bounded under file-descriptor pressure. Real servers, a real redis-server, real clients."""

from __future__ import annotations

import logging
import socket

import pytest
from helpers import free_port, wait_until
from redis_helpers import RedisServer
from server_helpers import ServerProcess, post_json, start_server

from notifier.core.protocol import PublishError

BOTH_STORES = True


def post(base: str, path: str, token: str, body: bytes = b"{}") -> tuple[int, dict, dict]:
    return post_json(base + path, token, body)


@pytest.mark.parametrize(("path", "body", "error", "field"), [
    ("%20%20", b"{}", "bad_order_id", "order_id"),
    ("a%ffb", b"{}", "bad_order_id", None),
    ("1", b"[]", "invalid_decision", "body"),
    ("1", b'{"reason": "x", "price": 0}', "invalid_decision", "price"),
    ("1", b'{"reason": "\\u001b[31mSOLD OUT\\u001b[0m"}', "bad_reason", "reason"),
    ("1", b'{"reason": "\\ud800"}', "bad_reason", "reason"),
    ("1", b'{"reason": ["a"]}', "bad_reason", "reason"),
])
def test_a_bad_decision_is_a_400_with_a_sentence(server, path, body, error, field):
    status, answer, _ = post(server.http_url, f"/api/v1/shops/alpha/orders/{path}/reject",
                             server.shops["alpha"].client_token, body)
    assert (status, answer["error"], answer.get("field")) == (400, error, field)
    assert answer["message"]


def test_a_decisions_order_id_is_read_like_ingest_reads_it(server):
    token = server.shops["alpha"].client_token
    server.publish(order_id=" 12 ")  # stored as "12"
    status, first, _ = post(server.http_url, "/api/v1/shops/alpha/orders/%2012%20/accept", token)
    assert status == 201
    decision = server.store.events_after("alpha", first["seq"] - 1, 1)[0][2]
    assert decision["order_id"] == "12"
    assert post(server.http_url, "/api/v1/shops/alpha/orders/12/reject", token)[0] == 409, "the same order"
    status, _, _ = post(server.http_url, "/api/v1/shops/alpha/orders/13/reject", token,
                        '{"reason": "卖完了\\n明天再来"}'.encode())
    assert status == 201
    assert server.store.events_after("alpha", 0, 10)[-1][2]["text"] == "卖完了 明天再来"


def test_decisions_are_rate_limited_per_shop(make_server):
    server = make_server(decisions_per_second=5)
    token = server.shops["alpha"].client_token
    answers = [post(server.http_url, f"/api/v1/shops/alpha/orders/r{n}/accept", token) for n in range(30)]
    statuses = [status for status, _, _ in answers]
    # A burst of 10 (two seconds' worth), then about 5 a second: far fewer than 30 in this burst.
    assert 10 <= statuses.count(201) < 25 and 429 in statuses, statuses
    refused = next(answer for answer in answers if answer[0] == 429)
    assert refused[1]["error"] == "too_many_decisions" and int(refused[2]["Retry-After"]) >= 1
    assert post(server.http_url, "/api/v1/shops/beta/orders/1/accept", server.shops["beta"].client_token)[0] == 201, \
        "another shop is not held back"


def test_decisions_while_redis_is_down_are_a_503(tmp_path):
    """Redis only (its own redis-server, stopped under the server)."""
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        _decide_with_redis_down(tmp_path, redis)
    finally:
        redis.stop()


def _decide_with_redis_down(tmp_path, redis) -> None:
    server = start_server(tmp_path / "srv", store_url=redis.url, store_timeout_s=0.5)
    try:
        token = server.shops["alpha"].client_token
        redis.kill()
        for n in range(5):
            status, answer, headers = post(server.http_url, f"/api/v1/shops/alpha/orders/{n}/accept", token)
            assert (status, answer["error"]) == (503, "store_unavailable"), answer
        with pytest.raises(PublishError) as refused:
            server.publish(order_id="1")
        assert refused.value.status == 503
    finally:
        server.thread.stop()
        server.store.close()


def test_redis_turning_persistence_off_while_serving_stops_ingest_and_says_why(tmp_path, redis_server, caplog):
    """Redis only."""
    with redis_server.client() as client:
        client.flushall()
    server = start_server(tmp_path / "srv", store_url=redis_server.url, durability_check_s=0.1)
    caplog.set_level(logging.WARNING, logger="notifier.server.app")
    try:
        assert server.publish(order_id="1")["seq"] == 1
        with redis_server.client() as client:
            client.config_set("appendonly", "no")

        def refused():
            try:
                server.publish(order_id="2")
            except PublishError as exc:
                return exc
            return None

        problem = wait_until(refused, 5, interval=0.05, message="ingest refused once persistence is off")
        assert (problem.status, problem.reason) == (503, "store_not_durable")
        assert any("appendonly" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    finally:
        with redis_server.client() as client:
            client.config_set("appendonly", "yes")
    try:
        wait_until(lambda: not refused(), 5, interval=0.05, message="ingest again once persistence is back")
    finally:
        server.thread.stop()
        server.store.close()


def test_a_failed_set_callback_leaves_no_trace(redis_server):
    """Redis only: a shop that does not exist is not listed among the shops with callbacks."""
    from notifier.server.redis_store import CALLBACK_SHOPS_KEY, RedisEventStore
    from notifier.server.store import ShopError

    with redis_server.client() as client:
        client.flushall()
    store = RedisEventStore.from_url(redis_server.url)
    try:
        with pytest.raises(ShopError):
            store.set_callback("nobody", "https://shop.example/cb")
        assert not store.client.sismember(CALLBACK_SHOPS_KEY, "nobody")
    finally:
        store.close()


def test_running_out_of_file_descriptors_leaves_a_short_log(tmp_path):
    """The store does not matter here (SQLite)."""
    log_file = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "srv", free_port(), open_files=128, log_file=log_file, log_level="INFO")
    server.start()
    held = []
    try:
        for _ in range(300):  # connections that started a request: the guard cannot evict them
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=1)
            except OSError:
                continue
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        for _ in range(20):  # and more knocking meanwhile
            server.healthy()
    finally:
        for sock in held:
            sock.close()
        server.stop()
    logged = log_file.read_text()
    assert logged.count("Traceback") <= 2, f"{logged.count('Traceback')} tracebacks"
    assert len(logged.splitlines()) < 200
