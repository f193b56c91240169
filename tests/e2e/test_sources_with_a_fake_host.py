"""Every source runs against a host written here in ten lines: no ledger, no intake, no Qt. What
a source may ask of the app is its `SourceHost` and nothing else, so these powers (store with a
cursor, read a cursor, details that came later, an order ended elsewhere, what still rings) work
through the door that is drawn. Back ends are real: the sky-take-out double (also serving plain
JSON frames), the reference server in a thread, and a RabbitMQ broker."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from helpers import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import client_settings, start_server  # noqa: E402

from notifier.core.action_outbox import ACCEPT, OrderAction  # noqa: E402
from notifier.core.connection import ConnState  # noqa: E402
from notifier.core.ledger import Ending  # noqa: E402
from notifier.core.secrets import MemorySecrets  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from notifier.core.sources import create_source  # noqa: E402
from tests.fakes.skytakeout_server import SkyTakeOutDouble  # noqa: E402


class FakeHost:
    """Everything a source may ask of the app (sources.base.SourceHost), kept in lists."""

    def __init__(self):
        self.events, self.cursors, self.details, self.ended, self.progress = [], {}, [], [], []

    def store(self, event, cursor=None, *, durable=False):
        new = event.key not in {e.key for e in self.events}
        self.events += [event] if new else []
        self.cursors.update([cursor] if cursor else [])
        return new

    def cursor(self, name):
        return self.cursors.get(name)

    def save_cursor(self, name, value):
        self.cursors[name] = value

    def details_arrived(self, event):
        self.details.append(event)

    def end_order(self, source, server, order_id, how, reason=None):
        self.ended.append((order_id, how, reason))
        return True

    def ringing(self, source, server):
        done = {o for o, _how, _reason in self.ended}
        return [e.order_id for e in self.events if e.order_id not in done]

    def progressed(self, source, server, order_id, progress, reason=None):
        self.progress.append((order_id, progress, reason))
        return True

    def in_progress(self, source, server):
        return []


def running(settings: Settings, host: FakeHost, secrets: MemorySecrets):
    source = create_source(settings, host, lambda _status: None, secrets)
    source.start()
    return source


def test_a_skytakeout_source_stores_fetches_details_and_ends_orders_through_the_host():
    host = FakeHost()
    with SkyTakeOutDouble() as double:
        settings = Settings({"connection.protocol": "skytakeout", "connection.url": double.ws_url,
                             "skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": "admin"})
        source = running(settings, host, MemorySecrets({"skytakeout_admin_password": "123456"}))
        try:
            wait_until(lambda: source.status.state is ConnState.CONNECTED, 10)
            double.wait_for_clients()
            paid_at = time.time()
            record = double.pay(amount="42.50", consignee="周九")
            order_id = str(record["id"])
            (event,) = wait_until(lambda: [e for e in host.events if e.order_id == order_id], 10)
            # The frame has no amount; the event says the details are on their way, and until when.
            assert event.amount is None and event.details_due is not None
            assert 0 < event.details_due - paid_at <= 2.0
            (rich,) = wait_until(lambda: host.details, 10, message="the details never arrived")
            assert (rich.order_id, str(rich.amount), rich.customer) == (order_id, "42.50", "周九")
            assert rich.details_due is None and rich.details_wait_s() == 0

            source.status_poll_s = 0.5  # it rings here: the status poll finds who took it
            double.accept(record["id"])
            wait_until(lambda: host.ended, 10, message="the order never ended")
            assert host.ended == [(order_id, Ending.ACCEPTED_ELSEWHERE, None)]
        finally:
            source.stop()


def test_a_json_source_stores_through_the_host():
    host = FakeHost()
    with SkyTakeOutDouble() as double:  # its /ws/ path broadcasts any text: a plain JSON server
        settings = Settings({"connection.protocol": "json", "connection.url": double.ws_url + "shop-1"})
        source = running(settings, host, MemorySecrets({}))
        try:
            wait_until(lambda: source.status.state is ConnState.CONNECTED, 10)
            double.wait_for_clients()
            double.send_text(json.dumps({"order_id": 7, "order_amount": 12.5, "items": [{"name": "面"}]}))
            (event,) = wait_until(lambda: host.events, 10)
            assert (event.order_id, str(event.amount), event.details.items[0].name) == ("7", "12.50", "面")
            assert event.details_due is None  # nothing more is coming: nobody waits
        finally:
            source.stop()


def test_a_reference_server_stream_resumes_from_the_hosts_cursor_and_ends_decided_orders(tmp_path):
    server = start_server(tmp_path / "server")
    host = FakeHost()
    token = server.shops["alpha"].client_token
    settings = client_settings(server.url, "alpha")
    secrets = MemorySecrets({"notifier_token": token})
    source = running(settings, host, secrets)
    try:
        server.publish(order_id="801", amount="10.00")
        wait_until(lambda: [e for e in host.events if e.order_id == "801"], 10)
        assert host.cursors, "the cursor is stored with the event"
        source.stop()

        # Another PC of the shop accepts it (through the source's own sender), while this
        # source is stopped; one more order comes in. A new source resumes from the host's cursor.
        sender = source.action_sender()
        sender.send(OrderAction(id=1, key="k-801", target="t", source="notifier", server=source.server_label(),
                                order_id="801", action=ACCEPT, reason=None, number="801",
                                in_doubt=False, created_at=time.time(), attempts=0))
        server.publish(order_id="802")
        source = running(settings, host, secrets)
        wait_until(lambda: [e for e in host.events if e.order_id == "802"], 10)
        wait_until(lambda: host.ended, 10, message="the decision never reached the host")
        assert host.ended == [("801", Ending.ACCEPTED_ELSEWHERE, None)]
        assert [e.order_id for e in host.events] == ["801", "802"]  # nothing told twice
    finally:
        source.stop()
        server.thread.stop()
        server.store.close()


@pytest.mark.needs_system("rabbitmq")
def test_an_amqp_source_stores_durably_through_the_host():
    from test_amqp import broker_or_skip  # the e2e broker check (skips without a broker)

    from notifier.core.sources.amqp import AmqpPublisher

    broker_or_skip()

    class DurableHost(FakeHost):
        def store(self, event, cursor=None, *, durable=False):
            self.durable = [*getattr(self, "durable", []), durable]
            return super().store(event, cursor)

    host = DurableHost()
    tag = f"fake-host-{time.monotonic_ns()}"
    settings = Settings({"connection.protocol": "amqp", "connection.url": "amqp://guest@127.0.0.1/",
                         "amqp.exchange": tag, "amqp.queue": tag})
    source = running(settings, host, MemorySecrets({"amqp_password": "guest"}))
    try:
        wait_until(lambda: source.status.state is ConnState.CONNECTED, 20,
                   message=f"not connected: {source.status}")
        with AmqpPublisher(settings, "guest") as publisher:
            publisher.publish({"order_id": 901, "order_amount": 3})
        (event,) = wait_until(lambda: host.events, 10)
        assert event.order_id == "901" and host.durable == [True]  # acked after a synced write
    finally:
        source.stop()
