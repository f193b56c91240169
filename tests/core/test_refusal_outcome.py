"""A refusal that says what became of the order keeps that outcome: the reference server's 409
(`{"error": "already_decided", "outcome": "accepted", ...}`, issue 21) becomes an ActionRefused
with `outcome`, and the worker writes the true ending into the PC's history.

The answering server is the real reference server on 127.0.0.1 (it answers 409 with `outcome`
since issue 21 was merged; this test used a stand-in before); the request, the worker, the outbox
and the ledger file are the real ones."""

from __future__ import annotations

import pytest
from helpers import wait_until

from notifier.core.action_outbox import ActionOutbox, OrderAction
from notifier.core.action_worker import ActionRefused, ActionWorker
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import set_language
from notifier.core.ledger import Ending, Ledger
from notifier.core.protocol import publish_order
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.notifier_stream import NotifierStreamActions

SHOP = "noodle-bar"


@pytest.fixture
def reference_server(tmp_path):
    """The real reference server with one shop; `.decide(order, action)` is another PC deciding,
    `.publish(order, kind)` the shop's order system."""
    from notifier.server.config import ServerConfig
    from notifier.server.runner import ServerThread
    from notifier.server.store import EventStore

    store = EventStore(tmp_path / "server")
    creds = store.add_shop(SHOP)
    server = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=0), store=store)
    port = server.start()
    settings = Settings({"connection.protocol": "notifier", "connection.url": f"ws://127.0.0.1:{port}",
                         "connection.shop": SHOP})

    class Ref:
        def __init__(self):
            self.settings = settings
            self.sender = NotifierStreamActions(settings, MemorySecrets({"notifier_token": creds.client_token}),
                                                "127.0.0.1")

        def publish(self, order_id: str, kind: str = "new_order") -> None:
            publish_order(f"http://127.0.0.1:{port}", SHOP, creds.ingest_secret, order_id=order_id, kind=kind,
                          order_number=f"A-{order_id}", timeout=5)

        def decide(self, order_id: str, action: str, key: str = "other-pc") -> None:
            self.sender.send(OrderAction(1, f"{key}-{order_id}", "t", "notifier", "127.0.0.1", order_id, action,
                                         "太忙了" if action == "reject" else None, False, 0, 0.0, f"A-{order_id}"))

        @staticmethod
        def decisions() -> list[str]:
            return [body["kind"] for _seq, _at, body in store.events_after(SHOP, 0)
                    if body.get("kind") in ("accepted", "rejected")]

    yield Ref()
    server.stop()
    store.close()


def test_a_409_with_an_outcome_keeps_the_true_ending_in_the_history(reference_server, tmp_path):
    set_language("en")
    reference_server.publish("501")
    reference_server.decide("501", "accept")  # the other PC was first
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    event = OrderEvent(OrderKind.NEW_ORDER, "501", "notifier", "127.0.0.1", order_number="A-501")
    ledger.record(event)
    outbox = ActionOutbox(ledger.path)
    results: list = []
    worker = ActionWorker(reference_server.settings, outbox, reference_server.sender, "notifier:127.0.0.1",
                          on_result=lambda action, ok, sentence: results.append((ok, sentence)))
    worker.start()
    try:
        assert outbox.decide("notifier:127.0.0.1", "notifier", "127.0.0.1", "501", "reject", "太忙了", connection_id="").queued
        worker.wake()
        wait_until(lambda: results, 10, message="the refusal came back")
        assert results[0][0] is False
        assert ledger.find(event.key).ended_how == Ending.ACCEPTED_ELSEWHERE, "not 'acknowledged only'"
        assert reference_server.decisions() == ["accepted"], "the back end heard the winner only"
    finally:
        worker.stop()
        outbox.close()
        ledger.close()


def test_each_outcome_of_a_409_is_told_to_the_worker(reference_server):
    """Accepted or rejected by another PC, cancelled by the customer: what the server's 409 says
    reaches the worker as the outcome."""
    for order_id, outcome in (("601", "accepted"), ("602", "rejected"), ("603", "cancelled")):
        reference_server.publish(order_id)
        if outcome == "cancelled":
            reference_server.publish(order_id, kind="cancelled")
        else:
            reference_server.decide(order_id, outcome[:6])
        with pytest.raises(ActionRefused) as refused:
            reference_server.decide(order_id, "accept", key="this-pc")
        assert refused.value.outcome == outcome


def test_the_decision_sender_is_not_logged_as_the_shops_connection(reference_server, tmp_path, caplog):
    """The worker that sends decisions reuses the reconnect loop, and its states were logged as
    "connection: connected": seen in a PC's log right after "connection: misconfigured (no
    token)", as if the shop's order stream had come back while no order could arrive (and an
    end-to-end test waiting for "connection: connected" could be answered by it)."""
    import logging

    outbox = ActionOutbox(tmp_path / "ledger.sqlite3")
    worker = ActionWorker(reference_server.settings, outbox, reference_server.sender, "notifier:127.0.0.1")
    with caplog.at_level(logging.INFO):
        worker.start()
        try:
            wait_until(lambda: any("connected" in r.getMessage() for r in caplog.records), 5)
        finally:
            worker.stop()
            outbox.close()
    lines = [r.getMessage() for r in caplog.records if "connected" in r.getMessage()]
    assert lines and not [line for line in lines if line.startswith("connection:")], lines
    assert lines[0].startswith("decisions: connected")
