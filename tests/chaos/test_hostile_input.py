"""Hostile messages and hostile servers, each over a real connection on 127.0.0.1: what a shop owner
would notice is that odd text is kept as plain text, junk is skipped, and the next good order
still arrives; a server that stalls is given up on in bounded time, with a sentence saying why."""

from __future__ import annotations

import json
import threading
import time

import pytest
from chaos_support import RawServer, answer_handshake, read_handshake, text_frame
from helpers import wait_until

from notifier.core.connection import ConnState
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from tests.fakes.running_source import RunningSource, sky_settings
from tests.fakes.skytakeout_server import SkyTakeOutDouble

FAST_PINGS = {"connection.ping_interval": 5, "connection.ping_timeout": 2, "connection.connect_timeout": 2}


@pytest.fixture
def sky(tmp_path):
    with SkyTakeOutDouble(record_sent=False) as double:
        running = RunningSource(sky_settings(double), Ledger(tmp_path / "ledger.sqlite3"), MemorySecrets({}))
        try:
            running.wait_state(ConnState.CONNECTED)
            double.wait_for_clients(1)
            yield double, running
        finally:
            running.stop()
            running.ledger.close()


def _order(double, running, order_id: int, content: str, timeout: float = 10.0):
    double.broadcast({"type": 1, "orderId": order_id, "content": content})
    return wait_until(lambda: next((e for e in running.orders if e.order_id == str(order_id)), None),
                      timeout, message=f"order {order_id}")


TEXTS = {
    "markup": "<b>订单号：1234</b><script>alert('x')</script><img src=x onerror=1>&amp;&lt;",
    "control characters": "订单号：1235\x00\x01\x07\x08\x1b[31mRED\x1b[0m\x7f\r\n\t\u2028\u2029",
    "right-to-left marks": "\u202e订单号：1236\u202c \u200f\u200e\u2067إلى\u2069 \u061c",
    "emoji and wide": "订单号：1237 😀👨‍👩‍👧 ＡＢＣ ｶﾀｶﾅ",
}


@pytest.mark.parametrize("name", list(TEXTS))
def test_odd_text_arrives_as_the_same_plain_text(sky, name):
    double, running = sky
    text = TEXTS[name]
    event = _order(double, running, 5000 + list(TEXTS).index(name), text)
    assert event.text == text, "kept exactly, not rendered, stripped or mangled"
    assert event.order_number == str(1234 + list(TEXTS).index(name))
    stored = running.ledger.recent(5)[0].event
    assert stored.text == text, "the ledger gives back what it was given"
    line = json.dumps(event.to_json_dict(), ensure_ascii=False)
    assert "\n" not in line, "one JSON line per order, whatever the text holds"


def test_junk_is_skipped_and_the_next_good_order_arrives_on_the_same_connection(sky):
    double, running = sky
    junk: list[bytes] = [
        b"x" * (10 * 1024 * 1024),  # 10 MB: over the 1 MiB limit, dropped unread
        ("[" * 200_000 + "]" * 200_000).encode(),  # deeply nested arrays
        ('{"a":' * 100_000 + "1" + "}" * 100_000).encode(),  # deeply nested objects
        b'{"type":1,"orderId":\xff\xfe\xfd,"content":"\xc3\x28"}',  # invalid UTF-8
        b"\xed\xa0\x80\xed\xb0\x80",  # UTF-8-encoded surrogates (invalid)
        b'{"type":1,"orderId":1e999}', b'{"type":1,"orderId":NaN}', b'{"type":1,"orderId":1.5}',
        b'{"type":1,"orderId":' + b"9" * 5000 + b"}",  # beyond Python's int-from-text limit
        b'{"type":1,"orderId":true}', b'{"type":1,"orderId":[7001]}', b'{"type":"one","orderId":7001}',
        b'{"type":1,"orderId":""}', b'{"type":{"x":1},"orderId":7001}', b"null", b"[]", b"",
        "这是来自服务端的消息：12:00:05".encode(),
    ]
    for data in junk:
        double.send_raw(data)
    # Numbers as strings and strings as numbers are what they say: still orders.
    double.broadcast({"type": "1", "orderId": "7002", "content": "订单号：7002"})
    double.broadcast({"type": " 2", "orderId": 7003.0, "content": 7003})
    wait_until(lambda: {"7002", "7003"} <= set(running.order_ids()), 15,
               message=f"orders after the junk; got {running.order_ids()}")
    event = _order(double, running, 7004, "订单号：7004")
    kinds = {e.order_id: e.kind for e in running.orders}
    assert kinds["7003"].value == "reminder"
    assert set(running.order_ids()) == {"7002", "7003", "7004"}, "no junk became an order"
    assert event.text == "订单号：7004"
    assert running.source.connections == 1, "nothing above cost the connection"
    assert running.state is ConnState.CONNECTED


def test_a_server_sending_a_byte_a_second_is_given_up_on_and_the_next_order_arrives(tmp_path):
    """Ping interval 5 s + timeout 2 s: the trickling message is abandoned within 7 s of its first
    byte, the source reconnects, and the order the server sends properly then arrives."""
    good = json.dumps({"type": 1, "orderId": 8001, "content": "订单号：8001"}).encode()
    trickle_started: list[float] = []

    def handler(server: RawServer, conn, index: int) -> None:
        answer_handshake(conn, read_handshake(conn))
        if index == 0:
            frame = text_frame(json.dumps({"type": 1, "orderId": 8000, "content": "x" * 50}).encode())
            trickle_started.append(time.monotonic())
            for byte in frame:
                if server.closing:
                    return
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
        else:
            conn.sendall(text_frame(good))
            while not server.closing and conn.recv(4096):
                pass

    server = RawServer(handler)
    settings = Settings({"connection.protocol": "skytakeout",
                         "connection.url": f"ws://127.0.0.1:{server.port}/ws/", **FAST_PINGS})
    running = RunningSource(settings, Ledger(tmp_path / "ledger.sqlite3"), MemorySecrets({}))
    try:
        wait_until(lambda: trickle_started, 10, message="first connection")
        wait_until(lambda: len(server.accepted) >= 2, 12, message="a second connection")
        gave_up_after = server.accepted[1] - trickle_started[0]
        running.wait_orders(1, timeout=10)
        dropped = [s for s in running.statuses if s.state is ConnState.WAITING]
    finally:
        running.stop()
        running.ledger.close()
        server.close()
    assert running.order_ids() == ["8001"], "the trickled order never half-arrived; the good one did"
    assert gave_up_after < 5 + 2 + 2.5, f"reconnected {gave_up_after:.1f} s after the trickle began"
    assert dropped and "too slowly" in dropped[0].detail
    assert "Retrying in" in dropped[0].sentence()


def test_a_server_that_accepts_tcp_but_never_answers_the_handshake(tmp_path):
    """Connect timeout 2 s: the state says the server cannot be reached, with a sentence, and the
    source keeps trying."""
    hold = threading.Event()

    def handler(server: RawServer, conn, index: int) -> None:
        hold.wait(30)  # read nothing, answer nothing

    server = RawServer(handler)
    settings = Settings({"connection.protocol": "skytakeout",
                         "connection.url": f"ws://127.0.0.1:{server.port}/ws/", **FAST_PINGS})
    running = RunningSource(settings, Ledger(tmp_path / "ledger.sqlite3"), MemorySecrets({}))
    try:
        waiting = running.wait_state(ConnState.WAITING, timeout=6)
        wait_until(lambda: len(server.accepted) >= 2, 8, message="a retry after the timeout")
        first_wait = server.accepted[0]
        retried_after = server.accepted[1] - first_wait
    finally:
        hold.set()
        running.stop()
        running.ledger.close()
        server.close()
    assert waiting.reason is ConnState.UNREACHABLE and "timed out" in waiting.detail
    sentence = waiting.sentence()
    assert sentence.startswith(f"Cannot reach 127.0.0.1:{server.port}.") and "Retrying in" in sentence
    assert 2 <= retried_after < 2 + 2.5, f"retried {retried_after:.1f} s after the first attempt"
    assert not running.orders
