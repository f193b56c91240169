"""Accept / reject through the reference server with real clients on 127.0.0.1: every PC of the
shop stops ringing (also one that was offline), and the shop's back end gets one signed callback
per decision, retried until it answers 2xx. On both stores (SQLite and a real redis-server)."""

from __future__ import annotations

import json
import time

import pytest
from helpers import wait_until
from server_helpers import HttpBackEnd, post_json

from notifier.core import protocol
from notifier.core.ledger import Ending
from notifier.core.order_actions import OrderActions
from notifier.server.app import CALLBACKS
from notifier.server.deliveries import EVENT_ID_HEADER

BOTH_STORES = True


def order_on(client, order_id: str):
    wait_until(lambda: order_id in client.order_ids(), 10, message=f"order {order_id} never arrived")
    return next(e for e in client.orders if e.order_id == order_id)


def test_accept_on_one_pc_ends_the_alert_on_the_other_within_a_second(server, make_client):
    a, b = make_client(server), make_client(server)
    server.publish(order_id="501", amount="30.00")
    event_a, event_b = order_on(a, "501"), order_on(b, "501")
    ended_on_b = []
    b.intake.on_ended(lambda *args: ended_on_b.append((time.monotonic(), args)))
    actions = OrderActions(a.ledger.path, a.source)
    try:
        clicked = time.monotonic()
        assert actions.accept(event_a).queued
        wait_until(lambda: ended_on_b, 5, message="B kept ringing")
        took = ended_on_b[0][0] - clicked
        assert took < 1.0, f"B stopped ringing after {took:.3f} s"
        assert ended_on_b[0][1][2:4] == ("501", Ending.ACCEPTED_ELSEWHERE)
        assert b.ledger.find(event_b.key).ended_how == Ending.ACCEPTED_ELSEWHERE
        assert b.ledger.unacknowledged_orders() == 0
        wait_until(lambda: actions.outbox.waiting() == 0, 5)
        assert a.ledger.find(event_a.key).ended_how == Ending.ACCEPTED_HERE, "its own echo changes nothing"
    finally:
        actions.stop()


def test_a_pc_that_was_offline_hears_the_rejection_on_resume(server, make_client, tmp_path):
    a = make_client(server)
    offline_ledger = tmp_path / "offline.sqlite3"
    b = make_client(server, ledger_path=offline_ledger)
    server.publish(order_id="502")
    event_a, event_b = order_on(a, "502"), order_on(b, "502")
    b.stop()
    actions = OrderActions(a.ledger.path, a.source)
    try:
        actions.reject(event_a, "打烊了")
        wait_until(lambda: actions.outbox.waiting() == 0, 5)
    finally:
        actions.stop()
    again = make_client(server, ledger_path=offline_ledger)
    wait_until(lambda: again.ledger.find(event_b.key).ended_how == Ending.REJECTED_ELSEWHERE, 10)
    assert again.ledger.find(event_b.key).end_reason == "打烊了"
    assert again.ledger.unacknowledged_orders() == 0


def _post(server, path: str, token: str, body: dict | None = None, key: str | None = None):
    status, answer, _headers = post_json(server.http_url + path, token, json.dumps(body or {}).encode(), key)
    return status, answer


def test_the_http_call_needs_the_shops_own_token(server):
    path = "/api/v1/shops/alpha/orders/9/accept"
    assert _post(server, path, server.shops["beta"].client_token)[0] == 401
    assert _post(server, path, "nonsense")[0] == 401
    status, body = _post(server, "/api/v1/shops/alpha/orders/9/reject", server.shops["alpha"].client_token,
                         {"reason": 5})
    assert (status, body["error"]) == (400, "bad_reason")


class Backend(HttpBackEnd):
    """The shop's own back end: answers 500 to the first `failures` calls, then 200."""

    def __init__(self, failures: int):
        self.calls: list[tuple[float, dict, bytes]] = []

        def respond(handler, body: bytes) -> None:
            self.calls.append((time.monotonic(), dict(handler.headers), body))
            handler.send_response(500 if len(self.calls) <= failures else 200)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        super().__init__(respond, "/notifier-callback")


@pytest.fixture
def backend():
    made = []

    def make(failures: int = 0) -> Backend:
        made.append(Backend(failures))
        return made[-1]

    yield make
    for b in made:
        b.close()


def test_the_shops_back_end_gets_one_signed_callback_retried_after_500s(server, backend):
    shop_backend = backend(failures=2)
    server.store.set_callback("alpha", shop_backend.url)
    server.thread.app[CALLBACKS].deliverer.first_retry_s = 0.05
    token = server.shops["alpha"].client_token
    status, answer = _post(server, "/api/v1/shops/alpha/orders/777/reject", token, {"reason": "售罄"}, key="k-777")
    assert status == 201
    wait_until(lambda: len(shop_backend.calls) >= 3, 10, message=f"calls: {len(shop_backend.calls)}")
    # The same decision sent again (a lost answer) is logged once and called back once.
    again = _post(server, "/api/v1/shops/alpha/orders/777/reject", token, {"reason": "售罄"}, key="k-777")
    assert again == (200, dict(answer, duplicate=True))
    time.sleep(0.5)  # room for a wrong extra delivery to show up
    assert len(shop_backend.calls) == 3, "delivered once after the 2xx"
    secret = server.shops["alpha"].ingest_secret
    for _at, headers, body in shop_backend.calls:
        assert protocol.check_callback(secret, headers, body) == answer["event_id"]
        assert headers[EVENT_ID_HEADER] == answer["event_id"]
    payload = json.loads(shop_backend.calls[-1][2])
    assert payload == {"event_id": answer["event_id"], "shop": "alpha", "seq": answer["seq"], "kind": "rejected",
                       "order_id": "777", "reason": "售罄", "occurred_at": payload["occurred_at"]}
    assert server.store.pending_deliveries("alpha") == [], "nothing left to send"


def test_callback_urls_are_set_from_the_command_line_in_the_servers_store(server):
    from test_store_and_cli import run_notifier

    added = run_notifier("server", *server.store_args, "add-shop", "noodle",
                         "--callback-url", "https://shop.example/cb")
    assert added.returncode == 0, added.stderr
    assert server.store.callback_url("noodle") == "https://shop.example/cb"
    bad = run_notifier("server", *server.store_args, "set-callback", "noodle", "--callback-url", "ftp://x")
    assert bad.returncode == 2 and "must be an http:// or https:// address" in bad.stderr
    assert "Traceback" not in bad.stderr
    cleared = run_notifier("server", *server.store_args, "set-callback", "noodle", "--callback-url", "")
    assert cleared.returncode == 0 and server.store.callback_url("noodle") is None
    unknown = run_notifier("server", *server.store_args, "set-callback", "soup", "--callback-url", "http://x/")
    assert unknown.returncode == 1 and "no shop named" in unknown.stderr
