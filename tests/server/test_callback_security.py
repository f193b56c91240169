"""Callbacks cannot be turned against the server's own network, nor replayed: internal
destinations are refused unless the operator allows them (checked on the addresses really
connected to), redirects are never followed, and the signature covers the event id and the shop
under a purpose label, so neither a captured callback under another id nor a signed ingest
request passes a back end's check. Real servers and real HTTP back ends on 127.0.0.x; the store
does not matter here (SQLite)."""

from __future__ import annotations

import pytest
from helpers import free_port, wait_until
from server_helpers import HttpBackEnd, StoreLocation
from test_callback_deliveries import Receiver, decide
from test_callback_failures import plant_callback_url

from notifier.core import protocol
from notifier.core.protocol import SignatureProblem
from notifier.server.deliveries import CallbackError


class Redirector(HttpBackEnd):
    """A back end that answers every callback 307 to somewhere else."""

    def __init__(self, location: str):
        self.calls = 0

        def respond(handler, _body: bytes) -> None:
            self.calls += 1
            handler.send_response(307)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        super().__init__(respond)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "0.0.0.0", "2130706433", "localhost"])
def test_callbacks_never_reach_an_internal_address_unless_allowed(make_server, host, caplog):
    server = make_server(callbacks_allowed_to=())  # as a server runs without --allow-callbacks-to
    internal = Receiver(free_port(), server.shops["alpha"].ingest_secret)
    try:
        url = f"http://{host}:{internal.port}/cb"
        if host.isdigit():  # refused when set; planted as an older server would have kept it
            with pytest.raises(CallbackError):
                server.store.set_callback("alpha", url)
            plant_callback_url(StoreLocation(server.data_dir), "alpha", url)
        else:
            server.store.set_callback("alpha", url)
        assert decide(server.http_url, "alpha", server.shops["alpha"].client_token, "1")[0] == 201
        wait_until(lambda: any(attempts for _id, attempts in server.store.pending_deliveries("alpha")), 10,
                   interval=0.02, message="a refused attempt recorded")
        assert internal.calls == [], f"{url} was called"
        said = [r.getMessage() for r in caplog.records if "callbacks of alpha" in r.getMessage()]
        assert said and any(why in said[0] for why in ("loopback", "unspecified", "no valid host name")), said
    finally:
        internal.close()


def test_an_allowed_network_is_called(make_server):
    server = make_server(callbacks_allowed_to=("127.0.0.1/32",))
    receiver = Receiver(free_port(), server.shops["alpha"].ingest_secret)
    try:
        server.store.set_callback("alpha", receiver.url)
        status, answer = decide(server.http_url, "alpha", server.shops["alpha"].client_token, "1")
        wait_until(lambda: answer["event_id"] in receiver.delivered(), 10, interval=0.02)
    finally:
        receiver.close()


def test_a_redirect_is_never_followed(make_server):
    server = make_server()  # 127.0.0.0/8 allowed: only the rule against redirects stands in the way
    internal = Receiver(free_port(), server.shops["alpha"].ingest_secret)
    redirector = Redirector(f"http://127.0.0.2:{internal.port}/internal")
    try:
        server.store.set_callback("alpha", redirector.url)
        assert decide(server.http_url, "alpha", server.shops["alpha"].client_token, "1")[0] == 201
        wait_until(lambda: any(attempts for _id, attempts in server.store.pending_deliveries("alpha")), 10,
                   interval=0.02, message="the 307 counted as a failed attempt")
        assert redirector.calls >= 1 and internal.calls == []
    finally:
        redirector.close()
        internal.close()


def test_a_captured_callback_does_not_pass_under_another_id_nor_does_an_ingest_signature(make_server):
    server = make_server()
    secret = server.shops["alpha"].ingest_secret
    receiver = Receiver(free_port(), secret)
    try:
        server.store.set_callback("alpha", receiver.url)
        answer = decide(server.http_url, "alpha", server.shops["alpha"].client_token, "1")[1]
        wait_until(lambda: answer["event_id"] in receiver.delivered(), 10, interval=0.02)
        captured, body = receiver.last
        assert protocol.check_callback(secret, captured, body) == answer["event_id"]
        for forged in ("a1b2c3d4e5f6:999", answer["event_id"] + "0"):
            with pytest.raises(SignatureProblem):
                protocol.check_callback(secret, {**captured, protocol.EVENT_ID_HEADER: forged}, body)
        with pytest.raises(SignatureProblem):
            protocol.check_callback(secret, {**captured, protocol.SHOP_HEADER: "beta"}, body)
        # The same secret signs the order system's ingest: such a signature is no callback's.
        ingest_signed = {**protocol.signed_headers(secret, body), protocol.EVENT_ID_HEADER: answer["event_id"],
                         protocol.SHOP_HEADER: "alpha"}
        with pytest.raises(SignatureProblem):
            protocol.check_callback(secret, ingest_signed, body)
    finally:
        receiver.close()
