"""A server that sends its messages in fragments (a first frame, then continuation frames), over
a real connection on 127.0.0.1, to every kind of WebSocket source (they share one pump).

Found: `notifier listen`'s 1 MiB frame limit was bypassed by a fragmented message: 100 MB in
64 KiB pieces were accepted (230 MB, 78 CPU-s, no orders for 65 s), and endless pieces grew past
370 MB with no ping timeout. Now the whole message is bounded like a frame, and a message that
is not complete within the frame deadline costs the connection, not the shop's orders.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from chaos_support import RawServer, accept_key, answer_handshake, read_handshake, text_frame
from helpers import wait_until

from notifier.core.connection import ConnState
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.websocket_base import WebSocketSource
from tests.fakes.running_source import RunningSource

LIMIT_KIB = 64
PROTOCOLS = {
    "skytakeout": lambda n: {"type": 1, "orderId": n, "content": f"订单号：{n}"},
    "json": lambda n: {"order_id": n, "order_amount": 10},
}


def fragment(opcode: int, fin: bool, payload: bytes) -> bytes:
    """One unmasked server frame: a first fragment (opcode 1) or a continuation (opcode 0)."""
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        return bytes([first, size]) + payload
    if size < 65536:
        return bytes([first, 126]) + size.to_bytes(2, "big") + payload
    return bytes([first, 127]) + size.to_bytes(8, "big") + payload


def in_pieces(message: bytes, piece: int) -> list[bytes]:
    parts = [message[i:i + piece] for i in range(0, len(message), piece)]
    return [fragment(1 if i == 0 else 0, i == len(parts) - 1, part) for i, part in enumerate(parts)]


def settings_for(protocol: str, port: int, ping_interval: int = 5) -> Settings:
    return Settings({"connection.protocol": protocol, "connection.url": f"ws://127.0.0.1:{port}/ws/",
                     "connection.max_frame_kib": LIMIT_KIB, "connection.ping_interval": ping_interval,
                     "connection.ping_timeout": 2, "connection.connect_timeout": 2})


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_fragmented_message_over_the_limit_is_dropped_and_the_next_order_arrives(tmp_path, protocol):
    order = PROTOCOLS[protocol]
    big = order(1).copy()
    big["padding"] = "x" * (3 * LIMIT_KIB * 1024)  # each piece under the limit, the whole 3x over
    sent = threading.Event()

    def handler(server: RawServer, conn, index: int) -> None:
        answer_handshake(conn, read_handshake(conn))
        conn.sendall(text_frame(json.dumps(order(0)).encode()))
        for piece in in_pieces(json.dumps(big).encode(), 8 * 1024):
            conn.sendall(piece)
        conn.sendall(b"".join(in_pieces(json.dumps(order(2)).encode(), 7)))  # small, in pieces
        sent.set()
        while not server.closing and conn.recv(4096):
            pass

    server = RawServer(handler)
    running = RunningSource(settings_for(protocol, server.port), Ledger(tmp_path / "l.sqlite3"),
                            MemorySecrets({}))
    try:
        running.wait_orders(2, timeout=15)
        assert sent.wait(5)
        assert running.order_ids() == ["0", "2"], "the oversized message never became an order"
        assert running.source.connections == 1 and running.state is ConnState.CONNECTED
    finally:
        running.stop()
        running.ledger.close()
        server.close()


def test_a_message_whose_fragments_never_end_costs_the_connection_not_the_orders(tmp_path, monkeypatch):
    monkeypatch.setattr(WebSocketSource, "message_deadline_s", lambda self: 1.5)
    started: list[float] = []

    def handler(server: RawServer, conn, index: int) -> None:
        answer_handshake(conn, read_handshake(conn))
        if index == 0:  # a first fragment, then small pieces forever, each well within time
            started.append(time.monotonic())
            conn.sendall(fragment(1, False, b'{"type": 1, "orderId": 9000, "content": "'))
            while not server.closing:
                conn.sendall(fragment(0, False, b"x" * 512))
                time.sleep(0.02)
        else:
            conn.sendall(text_frame(json.dumps(PROTOCOLS["skytakeout"](9001)).encode()))
            while not server.closing and conn.recv(4096):
                pass

    server = RawServer(handler)
    running = RunningSource(settings_for("skytakeout", server.port), Ledger(tmp_path / "l.sqlite3"),
                            MemorySecrets({}))
    try:
        wait_until(lambda: len(server.accepted) >= 2, 10, message="a second connection")
        gave_up_after = server.accepted[1] - started[0]
        running.wait_orders(1, timeout=10)
        waiting = [s for s in running.statuses if s.state is ConnState.WAITING]
    finally:
        running.stop()
        running.ledger.close()
        server.close()
    assert running.order_ids() == ["9001"]
    assert gave_up_after < 1.5 + 2.5, f"reconnected {gave_up_after:.1f} s after the first fragment"
    assert waiting and "too slowly" in waiting[0].detail


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_orders_that_arrive_together_are_each_taken_at_once(tmp_path, protocol):
    """The pump reads whatever the socket holds in one go (websocket_base.ReadAhead) and must
    then not wait on the socket while whole frames sit in its own buffer: ten orders, a ping
    and a fragmented order written in one piece (with the handshake's answer) are all stored
    well before the next ping could shake them loose."""
    order = PROTOCOLS[protocol]
    frames = [text_frame(json.dumps(order(n)).encode()) for n in range(10)]
    frames.insert(5, fragment(0x9, True, b"are you there"))  # a ping among the orders
    frames += in_pieces(json.dumps(order(10)).encode(), 5)

    def handler(server: RawServer, conn, index: int) -> None:
        key = read_handshake(conn)
        # The handshake's answer and every frame: one write.
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n" + b"".join(frames))
        while not server.closing and conn.recv(4096):
            pass

    server = RawServer(handler)
    running = RunningSource(settings_for(protocol, server.port, ping_interval=30),
                            Ledger(tmp_path / "l.sqlite3"), MemorySecrets({}))
    try:
        running.wait_orders(11, timeout=5)  # the next ping is 30 s away
        assert sorted(running.order_ids(), key=int) == [str(n) for n in range(11)]
    finally:
        running.stop()
        running.ledger.close()
        server.close()
