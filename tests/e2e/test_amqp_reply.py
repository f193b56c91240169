"""Accept / reject over RabbitMQ: with a reply routing key set, a decision is published to the
shop's reply target on the local broker (persistent, confirmed, mandatory); without one, only
acknowledging is offered. Real broker on 127.0.0.1 (skipped with the reason when there is none)."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from pathlib import Path

import pika
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_amqp import account  # noqa: E402, F401 - the fixture

from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.events import OrderEvent, OrderKind  # noqa: E402
from notifier.core.ledger import Ending, Ledger  # noqa: E402
from notifier.core.order_actions import OrderActions  # noqa: E402
from notifier.core.secrets import MemorySecrets  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from tests.fakes.running_source import RunningSource  # noqa: E402
from tests.fakes.util import wait_until  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.needs_system("rabbitmq")]


def running(account, tmp_path, **changes):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    settings = Settings({"connection.protocol": "amqp", "connection.url": account.url,
                         "amqp.exchange": f"orders-{tag}", "amqp.queue": f"orders-{tag}", **changes})
    source = RunningSource(settings, Ledger(tmp_path / f"ledger-{tag}.sqlite3"),
                           MemorySecrets({"amqp_password": account.password}))
    source.wait_state(ConnState.CONNECTED, 20)
    return source


def stored_order(source: RunningSource, order_id: str) -> OrderEvent:
    event = OrderEvent(OrderKind.NEW_ORDER, order_id, "amqp", source.source.server_label())
    assert source.ledger.record(event)
    return event


def test_a_decision_is_published_to_the_reply_target(account, tmp_path):  # noqa: F811
    queue = f"decisions-{uuid.uuid4().hex[:6]}"
    credentials = pika.PlainCredentials(account.user, account.password)
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, account.vhost, credentials))
    channel = conn.channel()
    channel.queue_declare(queue, durable=True)
    source = running(account, tmp_path, **{"amqp.reply_routing_key": queue})
    results, lock = [], threading.Lock()

    def on_result(action, ok, sentence):
        with lock:
            results.append((action.order_id, ok, sentence))

    actions = OrderActions(source.ledger.path, source.source, on_result)
    try:
        assert actions.unavailable is None
        event = stored_order(source, "A-1")
        first, second = actions.reject(event, "售罄"), actions.reject(event, "售罄")
        assert first.queued and not second.queued
        wait_until(lambda: results, 15)
        assert results == [("A-1", True, None)]
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None and channel.basic_get(queue)[0] is None, "exactly one message"
        assert properties.delivery_mode == 2 and properties.message_id == first.key
        message = json.loads(body)
        assert (message["kind"], message["order_id"], message["reason"]) == ("rejected", "A-1", "售罄")
        assert source.ledger.find(event.key).ended_how == Ending.REJECTED_HERE
    finally:
        actions.stop()
        source.stop()
        source.ledger.close()
        channel.queue_delete(queue)
        conn.close()


def test_a_reply_no_queue_takes_is_a_refusal_and_without_a_key_only_acknowledging(account, tmp_path):  # noqa: F811
    source = running(account, tmp_path, **{"amqp.reply_routing_key": f"nobody-{uuid.uuid4().hex[:6]}"})
    results = []
    actions = OrderActions(source.ledger.path, source.source, lambda a, ok, s: results.append((ok, s)))
    try:
        actions.accept(stored_order(source, "A-2"))
        wait_until(lambda: results, 15)
        ((ok, sentence),) = results
        assert not ok and sentence.startswith("No queue takes accept / reject messages")
    finally:
        actions.stop()
        source.stop()
        source.ledger.close()
    plain = running(account, tmp_path)
    try:
        local = OrderActions(plain.ledger.path, plain.source)
        assert local.unavailable == "No reply target configured — this PC can only stop the ringing."
        local.stop()
    finally:
        plain.stop()
        plain.ledger.close()
