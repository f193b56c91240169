"""A client too slow to keep up is dropped for real: its socket is closed (and aborted when it
will not even take the close frame) within a bounded time, and /healthz shows it meanwhile."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request

from helpers import wait_until
from server_helpers import silent_websocket

from notifier.server.hub import CLOSE_DEADLINE_S

TCP_ESTABLISHED = 1

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of our end (Linux tcp_info's first byte): 1 while established;
    7 (closed) after the peer's RST, 8 (close-wait) after its FIN."""
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def health(server) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{server.http_url}/healthz", timeout=5) as response:
        return json.loads(response.read())


def test_twenty_never_reading_clients_are_dropped_and_their_sockets_closed(make_server):
    server = make_server(queue_limit=10, send_buffer=16 * 1024)
    token = server.shops["alpha"].client_token
    silent = [silent_websocket(server.port, token) for _ in range(20)]
    try:
        wait_until(lambda: health(server)["connections"] == 20, 5, message="20 streams open")
        text = "x" * 2000
        published = 0
        while server.hub.kicked < 20 and published < 400:
            server.publish(order_id=str(published), text=text)
            published += 1
        assert server.hub.kicked == 20, f"only {server.hub.kicked} dropped after {published} events"
        dropped_at = time.monotonic()
        bound = CLOSE_DEADLINE_S + 3.0
        wait_until(lambda: all(tcp_state(s) != TCP_ESTABLISHED for s in silent), bound,
                   message="every dropped client's socket closed by the server")
        closed_after = time.monotonic() - dropped_at
        state = wait_until(lambda: (h := health(server))["connections"] == 0 and h, 5,
                           message="the dropped streams gone from /healthz")
        assert state["dropped_slow_clients"] == 20 and state["closing_connections"] == 0
        assert state["open_sockets"] == 1, "no socket left on the server but this probe's own"
        assert closed_after <= bound
    finally:
        for sock in silent:
            sock.close()
