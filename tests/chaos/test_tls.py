"""wss:// against the reference server with certificates made for the test: an untrusted or
mismatched certificate is refused with a sentence the shop owner can act on; the shop's own CA,
once configured, is trusted."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest
from chaos_support import make_certificates

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import Client, client_settings, start_server  # noqa: E402

from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.protocol import publish_order  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_server(tmp_path, certs):
    started = []

    def start(stem: str):
        server = start_server(tmp_path / f"server-{stem}", shops=("alpha",),
                              cert=certs[f"{stem}_cert"], key=certs[f"{stem}_key"])
        started.append(server)
        return server

    yield start
    for server in started:
        server.thread.stop()
        server.store.close()


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(server, **changes) -> Client:
        client = Client(client_settings(f"wss://127.0.0.1:{server.port}", "alpha", **changes),
                        tmp_path / f"ledger{len(clients)}.sqlite3", server.shops["alpha"].client_token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()


def _refused(client: Client):
    status = client.wait_state(ConnState.WAITING, timeout=10)
    assert status.reason is ConnState.TLS_FAILURE, status
    return status


def test_a_self_signed_server_is_refused_with_a_clear_sentence(tls_server, make_client):
    server = tls_server("selfsigned")
    client = make_client(server)
    status = _refused(client)
    assert "certificate" in status.detail and "self" in status.detail.lower()
    sentence = status.sentence()
    assert sentence.startswith(f"The secure connection to 127.0.0.1:{server.port}/alpha could not be verified.")
    assert "Retrying in" in sentence
    assert client.source.connections == 0 and not client.orders


@pytest.mark.parametrize("stem, ca", [("server", "ca"), ("selfsigned", "selfsigned")])
def test_the_server_is_trusted_once_its_ca_is_configured(tls_server, make_client, certs, stem, ca):
    server = tls_server(stem)
    client = make_client(server, **{"connection.ca_file": str(certs[f"{ca}_cert"])})
    client.wait_state(ConnState.CONNECTED)
    context = ssl.create_default_context(cafile=str(certs[f"{ca}_cert"]))
    publish_order(f"https://127.0.0.1:{server.port}", "alpha", server.shops["alpha"].ingest_secret,
                  order_id="4242", amount="18.80", context=context)
    assert [e.order_id for e in client.wait_orders(1)] == ["4242"]


def test_a_hostname_mismatch_is_refused_even_from_a_trusted_ca(tls_server, make_client, certs):
    server = tls_server("other")  # signed by the trusted CA, but for shop.example
    client = make_client(server, **{"connection.ca_file": str(certs["ca_cert"])})
    status = _refused(client)
    assert "mismatch" in status.detail.lower() or "hostname" in status.detail.lower(), status.detail
    assert "could not be verified" in status.sentence()
    assert client.source.connections == 0
