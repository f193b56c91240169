"""The "Test connection" probe against real WebSocket servers on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest
from fakes.ws_token_server import WsServer, free_port

from notifier.core.connection import ConnState
from notifier.core.i18n import set_language
from notifier.core.probe import test_connection as probe
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings


@pytest.fixture(autouse=True)
def _english():
    set_language("en")


def _json_settings(url: str) -> Settings:
    return Settings({"connection.protocol": "json", "connection.url": url})


def test_reports_connected_when_the_server_accepts():
    with WsServer() as server:
        status = probe(_json_settings(f"ws://127.0.0.1:{server.port}/ws"), MemorySecrets(), timeout=5)
    assert status.state is ConnState.CONNECTED
    assert server.accepted == 1
    assert status.sentence() == f"Connected to 127.0.0.1:{server.port}."


def test_reports_unreachable_for_a_closed_port_without_retrying():
    port = free_port()
    started = time.monotonic()
    status = probe(_json_settings(f"ws://127.0.0.1:{port}/ws"), MemorySecrets(), timeout=5)
    assert status.state is ConnState.UNREACHABLE
    assert "refused" in status.detail
    # The answer comes from the first attempt, not after waiting for the timeout.
    assert time.monotonic() - started < 2
    assert "Retrying" not in status.sentence()
    assert "Cannot reach" in status.sentence()


def test_reports_unauthorized_on_401_and_connects_with_the_token():
    with WsServer(token="s3cret-token") as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        wrong = probe(_json_settings(url), MemorySecrets({"json_token": "wrong"}), timeout=5)
        right = probe(_json_settings(url), MemorySecrets({"json_token": "s3cret-token"}), timeout=5)
    assert wrong.state is ConnState.UNAUTHORIZED
    assert "401" in wrong.detail
    assert "s3cret" not in wrong.detail + wrong.sentence()
    assert right.state is ConnState.CONNECTED


def test_reports_misconfigured_without_an_address():
    status = probe(Settings({"connection.protocol": "json"}), MemorySecrets(), timeout=5)
    assert status.state is ConnState.MISCONFIGURED
    assert "no server address" in status.sentence()


def test_times_out_on_a_server_that_never_answers_the_handshake():
    # A listening socket that accepts but never speaks: the probe must still come back.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        status = probe(_json_settings(f"ws://127.0.0.1:{port}/ws"), MemorySecrets(), timeout=1.5)
    assert status.state is ConnState.UNREACHABLE
    assert time.monotonic() - started < 5
