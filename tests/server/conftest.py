"""Fixtures: a real reference server on 127.0.0.1 and real clients (see server_helpers).

A test module that sets `BOTH_STORES = True` runs each of its tests that use a server or a store
(`server`, `make_server`, `store_location`, `store_url`) twice: on the SQLite store and on the
Redis store (a real redis-server, one per test session, emptied before each test). A test that
is about one store only says so in its docstring."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis_helpers import RedisServer
from server_helpers import Client, RunningServer, StoreLocation, client_settings, start_server


def pytest_generate_tests(metafunc):
    if "store_kind" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("store_kind", ["sqlite", "redis"], indirect=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store_kind(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def store_url(request, store_kind) -> str | None:
    """None for SQLite; for Redis the URL of the session's redis-server, emptied first."""
    if store_kind != "redis":
        return None
    redis_server = request.getfixturevalue("redis_server")
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def store_location(request, tmp_path, store_kind, store_url):
    """The store of the test's kind without a server: for admin commands, a server process, or
    opening it the way a (re)started server would."""
    disk = request.getfixturevalue("redis_server").directory if store_url else None
    location = StoreLocation(tmp_path / "srv", store_url, disk)
    yield location
    location.close()


@pytest.fixture
def make_server(tmp_path, store_url):
    started: list[RunningServer] = []

    def make(**config) -> RunningServer:
        config.setdefault("store_url", store_url)
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
def gateways(make_server, store_kind) -> list[RunningServer]:
    """One server on SQLite; on Redis two gateway servers sharing one redis-server. Decisions
    are not rate-limited here (tests race many in a row: not what the limit is for)."""
    first = make_server(decisions_per_second=1000)
    if store_kind == "sqlite":
        return [first]
    second = make_server(shops=(), decisions_per_second=1000)
    second.shops = first.shops
    return [first, second]


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
