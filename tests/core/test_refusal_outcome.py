"""A refusal that says what became of the order keeps that outcome: the reference server's 409
(issue 21: `{"error": "already_decided", "outcome": "accepted", ...}`) becomes an ActionRefused
with `outcome`, and the worker writes the true ending into the PC's history.

The answering server here is a stand-in on 127.0.0.1 that answers as the reference server will
once issue 21's "one decision wins" is merged (this branch's server still answers 201); the
request, the worker, the outbox and the ledger file are the real ones."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import wait_until

from notifier.core.action_outbox import ActionOutbox
from notifier.core.action_worker import ActionRefused, ActionWorker
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import set_language
from notifier.core.ledger import Ending, Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.notifier_stream import NotifierStreamActions


@pytest.fixture
def stand_in_server():
    """Answers every decision with 409 and the outcome the test sets (like issue 21's server)."""
    answers = {"outcome": "accepted"}
    heard: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            heard.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": "already_decided", "outcome": answers["outcome"], "order_id": "501",
                               "message": "订单 501 已被处理"}).encode()
            self.send_response(409)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.answers, server.heard = answers, heard
    yield server
    server.shutdown()
    server.server_close()


def test_a_409_with_an_outcome_keeps_the_true_ending_in_the_history_against_a_stand_in(stand_in_server, tmp_path):
    set_language("en")
    port = stand_in_server.server_address[1]
    settings = Settings({"connection.protocol": "notifier", "connection.url": f"ws://127.0.0.1:{port}",
                         "connection.shop": "noodle-bar"})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    event = OrderEvent(OrderKind.NEW_ORDER, "501", "notifier", "127.0.0.1", order_number="A-501")
    ledger.record(event)
    outbox = ActionOutbox(ledger.path)
    sender = NotifierStreamActions(settings, MemorySecrets({"notifier_token": "t0k"}), "127.0.0.1")
    results: list = []
    worker = ActionWorker(settings, outbox, sender, "notifier:127.0.0.1",
                          on_result=lambda action, ok, sentence: results.append((ok, sentence)))
    worker.start()
    try:
        assert outbox.decide("notifier:127.0.0.1", "notifier", "127.0.0.1", "501", "reject", "太忙了").queued
        worker.wake()
        wait_until(lambda: results, 10, message="the refusal came back")
        assert results[0][0] is False
        assert ledger.find(event.key).ended_how == Ending.ACCEPTED_ELSEWHERE, "not 'acknowledged only'"
        assert stand_in_server.heard == ["/api/v1/shops/noodle-bar/orders/501/reject"]
    finally:
        worker.stop()
        outbox.close()
        ledger.close()


def test_each_outcome_of_a_409_is_told_to_the_worker(stand_in_server):
    from notifier.core.action_outbox import OrderAction

    port = stand_in_server.server_address[1]
    settings = Settings({"connection.protocol": "notifier", "connection.url": f"ws://127.0.0.1:{port}",
                         "connection.shop": "noodle-bar"})
    sender = NotifierStreamActions(settings, MemorySecrets({"notifier_token": "t0k"}), "127.0.0.1")
    action = OrderAction(1, "k", "t", "notifier", "127.0.0.1", "501", "accept", None, False, 0, 0.0, "A-501")
    for outcome in ("accepted", "rejected", "cancelled"):
        stand_in_server.answers["outcome"] = outcome
        with pytest.raises(ActionRefused) as refused:
            sender.send(action)
        assert refused.value.outcome == outcome
