"""Our own WebSocket client (notifier/core/sources/websocket_transport.py) against real peers on
127.0.0.1: an aiohttp server (pings, pongs, frames of every length, a refused upgrade, TLS), raw
servers that break RFC 6455 on purpose, and an HTTP CONNECT proxy with basic auth."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading

import pytest
from aiohttp import WSMsgType
from chaos_support import (
    RawServer,
    accept_key,
    answer_handshake,
    make_certificates,
    read_handshake,
    text_frame,
)
from helpers import wait_until

from notifier.core.connection import ConnState
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources import websocket_transport as transport
from tests.fakes.running_source import RunningSource
from tests.fakes.ws_token_server import WsServer

PROXY_PASSWORD = "pr0xy-s3cret-pw"


def order_frame(number: int) -> str:
    return json.dumps({"order_id": number, "order_amount": 10})


def started_server(on_open=None, **options) -> WsServer:
    """The aiohttp WebSocket server of tests/fakes, started, with the pings left to the test."""
    return WsServer(on_open=on_open, autoping=False, **options).start()


def sends_orders(*numbers: int):
    async def handler(ws):
        for number in numbers:
            await ws.send_str(order_frame(number))
    return handler


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that wants `user:password` (basic auth): relays bytes
    both ways, answers 407 to anyone else. `tunnels` lists the targets it opened."""

    def __init__(self, user: str, password: str):
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.tunnels: list[str] = []
        self.refused = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._open.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return conn.close()
            head += chunk
        request, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request.split(" ")
        auth = next((line.split(":", 1)[1].strip() for line in lines
                     if line.lower().startswith("proxy-authorization:")), "")
        if method != "CONNECT" or auth != self.expected:
            self.refused += 1
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            return conn.close()
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        self._open.append(upstream)
        self.tunnels.append(target)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=self._relay, args=(upstream, conn), daemon=True).start()
        self._relay(conn, upstream)

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def servers():
    started: list = []

    def keep(server):
        started.append(server)
        return server

    yield keep
    for server in started:
        server.close()


@pytest.fixture
def run_source(tmp_path, servers):
    """Sources stop before the servers they talk to (a server waits for its clients to go)."""
    running: list[RunningSource] = []

    def start(url: str, token: str = "", **changes) -> RunningSource:
        settings = Settings({"connection.protocol": "json", "connection.url": url, "connection.ping_interval": 5,
                             "connection.ping_timeout": 2, "connection.connect_timeout": 2, **changes})
        secrets = MemorySecrets({"json_token": token} if token else {})
        source = RunningSource(settings, Ledger(tmp_path / f"ledger{len(running)}.sqlite3"), secrets)
        running.append(source)
        return source

    yield start
    for source in running:
        source.stop()
        source.ledger.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_context(certs, stem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs[f"{stem}_cert"], certs[f"{stem}_key"])
    return context


# -- the handshake ---------------------------------------------------------------------------


@pytest.mark.parametrize("status, state", [(401, ConnState.UNAUTHORIZED), (403, ConnState.UNAUTHORIZED),
                                           (404, ConnState.UNREACHABLE), (500, ConnState.UNREACHABLE)])
def test_a_refused_upgrade_is_a_state_that_says_the_status(run_source, servers, status, state):
    server = servers(started_server(refuse=status))
    waiting = run_source(server.url()).wait_state(ConnState.WAITING)
    assert waiting.reason is state and f"server answered {status}" == waiting.detail


def test_a_wrong_accept_key_is_refused_and_nothing_it_sends_is_taken(run_source, servers, caplog):
    def handler(server, conn, index):
        read_handshake(conn)
        answer_handshake(conn, "a key the client never sent")  # a valid-looking but wrong accept
        conn.sendall(text_frame(order_frame(7).encode()))
        conn.recv(1)

    server = servers(RawServer(handler))
    source = run_source(f"ws://127.0.0.1:{server.port}/ws")
    waiting = source.wait_state(ConnState.WAITING)
    assert waiting.reason is ConnState.UNREACHABLE and "Sec-WebSocket-Accept" in waiting.detail
    assert source.source.loop.connections == 0 and source.order_ids() == []


def test_the_upgrade_request_has_a_fresh_key_no_origin_and_the_sources_headers(run_source, servers):
    server = servers(started_server(sends_orders(1)))
    source = run_source(server.url(), token="tok-123")
    source.wait_orders(1)
    source.source.reconnect_now()
    wait_until(lambda: len(server.headers) >= 2, 10, message="a second upgrade")
    first, second = server.headers[:2]
    assert first["Authorization"] == "Bearer tok-123" and "Origin" not in first
    assert first["Host"] == f"127.0.0.1:{server.port}"
    assert len(base64.b64decode(first["Sec-WebSocket-Key"])) == 16
    assert first["Sec-WebSocket-Key"] != second["Sec-WebSocket-Key"]


def test_a_redirect_is_followed_and_the_token_stays_with_the_server_the_shop_named(run_source, servers):
    target = servers(started_server(sends_orders(5)))

    def redirect(server, conn, index):
        read_handshake(conn)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {target.url()}\r\nContent-Length: 0\r\n\r\n".encode())
        conn.recv(1)

    redirector = servers(RawServer(redirect))
    source = run_source(f"ws://127.0.0.1:{redirector.port}/ws", token="tok-123")
    assert source.wait_orders(1)[0].order_id == "5"
    assert "Authorization" not in target.headers[0]


# -- frames ----------------------------------------------------------------------------------


def test_frames_of_every_length_and_pings_both_ways_through_a_real_server(servers):
    texts = ["x" * 100, "y" * 300, "z" * 70_000]  # 7-bit, 16-bit and 64-bit lengths
    received: list = []

    async def handler(ws):
        for text in texts:
            await ws.send_str(text)
        await ws.ping(b"are you there")
        received.append(await ws.receive())  # the client's pong
        received.append(await ws.receive())  # the client's own ping

    server = servers(started_server(handler))
    conn = transport.connect(server.url(), timeout=5, max_frame=1 << 20, frame_deadline_s=5)
    try:
        conn.settimeout(5)
        for text in texts:
            assert conn.recv_frame() == (transport.OP_TEXT, True, text.encode())
        opcode, fin, data = conn.recv_frame()
        assert (opcode, data) == (transport.OP_PING, b"are you there")
        conn.pong(data)
        conn.ping(b"p" * 125)
        wait_until(lambda: len(received) == 2, 5, message="the pong and the ping at the server")
    finally:
        conn.close(timeout=1)
    assert (received[0].type, received[0].data) == (WSMsgType.PONG, b"are you there")
    assert (received[1].type, received[1].data) == (WSMsgType.PING, b"p" * 125)


def test_the_clients_pong_is_masked_on_the_wire(run_source, servers):
    """RFC 6455 5.3: every frame a client sends is masked (a server must refuse one that is not)."""
    seen: list[bytes] = []

    def handler(server, conn, index):
        answer_handshake(conn, read_handshake(conn))
        conn.sendall(bytes([0x89, 9]) + b"shop-4711")  # a ping
        data = b""
        while len(data) < 2 + 4 + 9:
            data += conn.recv(64)
        seen.append(data)
        if conn.recv(64):  # the client's close frame
            conn.sendall(bytes([0x88, 0]))

    server = servers(RawServer(handler))
    run_source(f"ws://127.0.0.1:{server.port}/ws")
    wait_until(lambda: seen, 10, message="the pong")
    frame = seen[0]
    assert frame[0] == 0x8A and frame[1] == 0x80 | 9  # FIN + pong, mask bit + length
    mask, payload = frame[2:6], frame[6:15]
    assert transport.masked(mask, payload) == b"shop-4711" and payload != b"shop-4711"


def masked_text_frame(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    return bytes([0x81, 0x80 | len(payload)]) + mask + transport.masked(mask, payload)


BAD_FRAMES = {
    "masked": (masked_text_frame, "masked"),
    "reserved bits": (lambda p: bytes([0xC1, len(p)]) + p, "reserved bits"),
    "undefined opcode": (lambda p: bytes([0x83, len(p)]) + p, "undefined opcode"),
    "over-long ping": (lambda p: bytes([0x89, 126]) + (200).to_bytes(2, "big") + b"p" * 200 + text_frame(p),
                       "control frame"),
}


@pytest.mark.parametrize("kind", BAD_FRAMES)
def test_a_frame_no_server_may_send_ends_the_connection_with_a_reason(run_source, servers, caplog, kind):
    """The broken frame carries an order: it is not taken; the next connection's order is."""
    make, reason = BAD_FRAMES[kind]

    def handler(server, conn, index):
        answer_handshake(conn, read_handshake(conn))
        if index == 0:
            conn.sendall(make(order_frame(1).encode()))
        else:
            conn.sendall(text_frame(order_frame(2).encode()))
        if conn.recv(4096):  # the client's close frame: answer it, as a server does
            conn.sendall(bytes([0x88, 0]))

    server = servers(RawServer(handler))
    with caplog.at_level(logging.INFO):
        source = run_source(f"ws://127.0.0.1:{server.port}/ws")
        source.wait_orders(1)
    assert source.order_ids() == ["2"]
    assert any("ProtocolError" in line and reason in line for line in caplog.messages), caplog.messages


# -- TLS -------------------------------------------------------------------------------------


def test_verification_off_connects_to_a_self_signed_server_and_says_so(run_source, servers, certs, caplog):
    server = servers(started_server(sends_orders(3), tls=tls_context(certs, "selfsigned")))
    with caplog.at_level(logging.WARNING):
        source = run_source(server.url("wss"), **{"connection.verify_tls": False})
        assert source.wait_orders(1)[0].order_id == "3"
    assert any("verification is OFF" in line for line in caplog.messages)


def test_a_ca_file_that_cannot_be_read_is_a_settings_problem_with_its_name(run_source, servers, certs, tmp_path):
    server = servers(started_server(sends_orders(4), tls=tls_context(certs, "server")))
    missing = tmp_path / "no-such-ca.pem"
    source = run_source(server.url("wss"), **{"connection.ca_file": str(missing)})
    waiting = source.wait_state(ConnState.MISCONFIGURED)
    assert str(missing) in waiting.detail and "could not be read" in waiting.detail
    assert waiting.sentence().startswith("The connection settings are incomplete:")
    assert source.order_ids() == []


# -- proxies ---------------------------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_orders_arrive_through_an_http_connect_proxy_with_basic_auth(run_source, servers, no_proxy_env, caplog):
    server = servers(started_server(sends_orders(11)))
    proxy = servers(ConnectProxy("shop", PROXY_PASSWORD))
    with caplog.at_level(logging.DEBUG):
        source = run_source(server.url(), **{"connection.proxy": f"http://shop:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"})
        assert source.wait_orders(1)[0].order_id == "11"
    assert proxy.tunnels == [f"127.0.0.1:{server.port}"]
    assert PROXY_PASSWORD not in caplog.text


def test_a_wrong_proxy_password_is_a_state_with_the_status_and_never_the_password(run_source, servers, no_proxy_env,
                                                                                caplog):
    server = servers(started_server(sends_orders(12)))
    proxy = servers(ConnectProxy("shop", PROXY_PASSWORD))
    with caplog.at_level(logging.DEBUG):
        source = run_source(server.url(), **{"connection.proxy": f"http://shop:wrong-{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"})
        waiting = source.wait_state(ConnState.WAITING)
    assert proxy.refused >= 1 and proxy.tunnels == [] and source.order_ids() == []
    assert "407" in waiting.detail
    for text in (waiting.detail, waiting.sentence(), caplog.text):
        assert PROXY_PASSWORD not in text


def test_wss_goes_through_the_proxy_with_the_servers_name_checked(run_source, servers, certs, no_proxy_env):
    server = servers(started_server(sends_orders(13), tls=tls_context(certs, "server")))
    proxy = servers(ConnectProxy("shop", PROXY_PASSWORD))
    source = run_source(server.url("wss"), **{"connection.ca_file": str(certs["ca_cert"]),
                                              "connection.proxy": f"http://shop:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"})
    assert source.wait_orders(1)[0].order_id == "13"
    assert proxy.tunnels == [f"127.0.0.1:{server.port}"]


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(run_source, servers, no_proxy_env):
    server = servers(started_server(sends_orders(14)))
    proxy = servers(ConnectProxy("shop", PROXY_PASSWORD))
    no_proxy_env.setenv("http_proxy", f"http://shop:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}")
    assert run_source(server.url()).wait_orders(1)[0].order_id == "14"
    assert proxy.tunnels == [f"127.0.0.1:{server.port}"]
    no_proxy_env.setenv("no_proxy", "localhost, 127.0.0.0/8")
    assert run_source(server.url()).wait_orders(1)[0].order_id == "14"
    assert proxy.tunnels == [f"127.0.0.1:{server.port}"]  # the second went direct


@pytest.mark.parametrize("host, no_proxy, bypass", [
    ("shop.example.com", "example.com", True), ("shop.example.com", ".example.com", True),
    ("notexample.com", "example.com", False), ("10.1.2.3", "10.0.0.0/8", True), ("10.1.2.3", "192.168.0.0/16", False),
    ("anything", "*", True), ("127.0.0.1", "", False), ("127.0.0.1", "127.0.0.1", True),
])
def test_no_proxy_names_hosts_domains_and_networks(host, no_proxy, bypass):
    from notifier.core.sources.websocket_proxy import bypasses_proxy

    assert bypasses_proxy(host, no_proxy) is bypass


def test_the_accept_key_is_rfc_6455s_example():
    assert transport.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
