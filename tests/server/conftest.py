"""Fixtures: a real reference server on 127.0.0.1 and real clients (see server_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import Client, RunningServer, client_settings, start_server


@pytest.fixture
def make_server(tmp_path):
    started: list[RunningServer] = []

    def make(**config) -> RunningServer:
        server = start_server(tmp_path / f"server{len(started)}", **config)
        started.append(server)
        return server

    yield make
    for server in started:
        server.thread.stop()
        server.store.close()


@pytest.fixture
def server(make_server) -> RunningServer:
    return make_server()


@pytest.fixture
def make_client(tmp_path):
    clients: list[Client] = []

    def make(server: RunningServer, shop: str = "alpha", *, token: str | None = None,
             ledger_path: Path | None = None, **changes) -> Client:
        client = Client(
            client_settings(server.url, shop, **changes),
            ledger_path or tmp_path / f"ledger{len(clients)}.sqlite3",
            server.shops[shop].client_token if token is None else token,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()
