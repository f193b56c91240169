"""The RabbitMQ source against the real broker that .ci/setup.d/50-rabbitmq.sh starts on
127.0.0.1: orders waiting in the queue, a broker restart, a kill between the ledger write and the
acknowledgement, and poison messages. No order may be lost, none announced twice.

The module gets its own virtual host and user (deleted afterwards); each test its own exchange
and queue names. The listener subprocesses read the password from a real gnome-keyring.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pika
import pika.exceptions
import pytest

from notifier.cli import main as notifier_main
from notifier.core.connection import ConnState
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.amqp import TEST_HOOK_PAUSE_ENV, AmqpPublisher
from tests.fakes.keyring_session import KeyringSession
from tests.fakes.listener_process import ListenerProcess
from tests.fakes.running_source import RunningSource
from tests.fakes.util import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.needs_system("rabbitmq")]

# rabbitmqctl reads its Erlang cookie and config from HOME and XDG_CONFIG_HOME: use the broker's
# own, whatever the test session set (the desktop harness gives every run a private home).
RABBITMQ_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("XDG_")},
                "HOME": "/var/lib/rabbitmq"}


class Broker:
    """The local RabbitMQ node, administered through rabbitmqctl (as CI's root user)."""

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout,
                              env=RABBITMQ_ENV)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def is_up(self) -> bool:
        try:
            self.ctl("await_startup", "--timeout", "20", timeout=30)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            return False
        return True

    def restart_app(self, stopped: threading.Event | None = None) -> None:
        """Stop and start the broker application (connections drop, durable messages stay);
        `stopped` is set once the application is down."""
        try:
            self.ctl("stop_app")
        finally:
            if stopped is not None:
                stopped.set()
            self.ctl("start_app", timeout=120)
            self.ctl("await_startup", "--timeout", "60", timeout=90)


@dataclass(frozen=True)
class BrokerAccount:
    broker: Broker
    vhost: str
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"amqp://{self.user}@127.0.0.1:5672/{self.vhost}"


def broker_or_skip() -> Broker:
    broker = Broker()
    if shutil.which("rabbitmqctl") and broker.is_up():
        return broker
    reason = "no RabbitMQ broker on 127.0.0.1: run .ci/setup.d/50-rabbitmq.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true, so not skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def account() -> Iterator[BrokerAccount]:
    broker = broker_or_skip()
    tag = uuid.uuid4().hex[:8]
    acct = BrokerAccount(broker, f"notifier-e2e-{tag}", f"notifier-e2e-{tag}", secrets.token_urlsafe(16))
    broker.ctl("add_vhost", acct.vhost)
    try:
        # The password goes to rabbitmqctl on stdin: never on a command line.
        done = subprocess.run(["rabbitmqctl", "-q", "add_user", acct.user], input=acct.password + "\n",
                              env=RABBITMQ_ENV,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"add_user failed: {done.stderr[-500:]}")
        for user in (acct.user, "guest"):
            broker.ctl("set_permissions", "-p", acct.vhost, user, ".*", ".*", ".*")
        yield acct
    finally:
        broker.ctl("delete_vhost", acct.vhost)
        subprocess.run(["rabbitmqctl", "-q", "delete_user", acct.user], capture_output=True, timeout=60,
                       env=RABBITMQ_ENV)


@pytest.fixture(scope="module")
def keyring_session(account: BrokerAccount, tmp_path_factory) -> Iterator[KeyringSession]:
    session = KeyringSession(tmp_path_factory.mktemp("amqp-keyring"))
    try:
        session.set_secret("amqp_password", account.password)
        yield session
    finally:
        session.close()


@pytest.fixture
def amqp_settings(account: BrokerAccount):
    """settings(**changes): amqp settings with this test's own exchange, queue and routing key."""
    tag = uuid.uuid4().hex[:8]

    def make(**changes) -> Settings:
        values = {
            "connection.protocol": "amqp",
            "connection.url": account.url,
            "amqp.exchange": f"orders-{tag}",
            "amqp.queue": f"orders-{tag}",
            "amqp.routing_key": "order",
        }
        values.update({key.replace("__", "."): value for key, value in changes.items()})
        return Settings(values)

    return make


@pytest.fixture
def admin(account: BrokerAccount) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A channel of our own, to set up queues and look into them as the broker sees them."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", virtual_host=account.vhost,
        credentials=pika.PlainCredentials(account.user, account.password)))
    yield conn.channel()
    conn.close()


def queue_depth(channel, queue: str) -> int:
    """Messages ready in the queue (unacknowledged ones are not counted until they come back)."""
    return channel.queue_declare(queue, passive=True).method.message_count


def listen_args(settings: Settings) -> list[str]:
    return ["--protocol", "amqp", "--url", settings["connection.url"], "--queue", settings["amqp.queue"],
            "--set", f"amqp.exchange={settings['amqp.exchange']}",
            "--set", f"amqp.routing_key={settings['amqp.routing_key']}"]


# -- the tests -----------------------------------------------------------------------------------


def test_orders_queued_while_not_running_are_announced_once_at_start(
    account, amqp_settings, keyring_session, tmp_path
):
    settings = amqp_settings()
    home = tmp_path / "home"
    with AmqpPublisher(settings, account.password) as publisher:
        for order_id in range(101, 106):
            publisher.publish({"order_id": order_id, "order_amount": "18.80", "customer_name": "张三"})

    with ListenerProcess(listen_args(settings), home=home, env=keyring_session.env) as listener:
        orders = listener.wait_orders(5, timeout=20)
        assert sorted(o["order_id"] for o in orders) == [str(i) for i in range(101, 106)]
        assert all(o["source"] == "amqp" and o["amount"] == 18.8 and o["customer"] == "张三" for o in orders)
        assert listener.terminate() == 0

    # Started again: nothing old is announced again; a new order is.
    with ListenerProcess(listen_args(settings), home=home, env=keyring_session.env) as listener:
        listener.wait_state("connected", timeout=15)
        with AmqpPublisher(settings, account.password) as publisher:
            publisher.publish({"order_id": 106})
        listener.wait_orders(1, timeout=10)
        listener.terminate()
        assert [o["order_id"] for o in listener.orders()] == ["106"]
        assert account.password not in listener.stderr()


def test_broker_restart_mid_stream_loses_no_order(account, amqp_settings, tmp_path):
    settings = amqp_settings()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(settings, ledger, MemorySecrets({"amqp_password": account.password}))
    try:
        running.wait_state(ConnState.CONNECTED, timeout=15)
        total = 60
        published: list[int] = []
        # The second half is published only once the broker is down, so the restart falls mid-
        # stream however slowly rabbitmqctl starts (it once began after all 60 were taken).
        broker_down = threading.Event()

        def publish_all() -> None:
            # A publisher that keeps trying (with confirms) until each order is accepted, as a
            # shop's order system would; a retried publish may enqueue an order twice.
            publisher = None
            for order_id in range(1, total + 1):
                if order_id == total // 2 + 1:
                    broker_down.wait(120)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        publisher = publisher or AmqpPublisher(settings, account.password)
                        publisher.publish({"order_id": order_id})
                        published.append(order_id)
                        break
                    except (pika.exceptions.AMQPError, OSError):
                        if publisher:
                            publisher.close()
                        publisher = None
                        time.sleep(0.2)
                time.sleep(0.02)
            if publisher:
                publisher.close()

        thread = threading.Thread(target=publish_all, daemon=True)
        thread.start()
        wait_until(lambda: len(running.orders) >= 10, 15, message="orders before the restart")
        account.broker.restart_app(broker_down)
        thread.join(90)
        assert published == list(range(1, total + 1))
        running.wait_orders(total, timeout=30)
        ids = running.order_ids()
        assert sorted(ids, key=int) == [str(i) for i in range(1, total + 1)]  # all, each once
        assert running.source.connections >= 2
        assert ConnState.WAITING in [s.state for s in running.statuses]
        assert ledger.count() == total
    finally:
        running.stop()
        ledger.close()


def test_killed_between_ledger_write_and_ack_is_redelivered_and_announced_once(
    account, amqp_settings, keyring_session, tmp_path, admin
):
    settings = amqp_settings(json__kind_field="type")
    home = tmp_path / "home"
    queue = settings["amqp.queue"]
    args = listen_args(settings) + ["--set", "json.kind_field=type"]
    paused = {TEST_HOOK_PAUSE_ENV: "60", **keyring_session.env}
    with ListenerProcess(args, home=home, env=paused) as listener:
        listener.wait_state("connected", timeout=15)
        with AmqpPublisher(settings, account.password) as publisher:
            # A reminder: unlike a new order it is not keyed by order id, so this also proves the
            # redelivery is recognised as the same event.
            publisher.publish({"order_id": 7001, "type": 2, "content": "催单"}, message_id="m-7001")
        # The line is printed after the ledger write; the hook holds the ack back for 60 s.
        _at, line = listener.wait_for(lambda o: o.get("event") == "order", timeout=10)
        assert (line["kind"], line["order_id"]) == ("reminder", "7001")
        assert queue_depth(admin, queue) == 0  # delivered, not yet acknowledged
        listener.kill9()
    wait_until(lambda: queue_depth(admin, queue) == 1, 10, message="message back in the queue after the kill")

    with ListenerProcess(args, home=home, env=keyring_session.env, log_level="DEBUG") as listener:
        listener.wait_state("connected", timeout=15)
        wait_until(lambda: queue_depth(admin, queue) == 0, 10, message="redelivered message acknowledged")
        with AmqpPublisher(settings, account.password) as publisher:
            publisher.publish({"order_id": 7002, "type": 1})
        listener.wait_orders(1, timeout=10)
        listener.terminate()
        assert [o["order_id"] for o in listener.orders()] == ["7002"]  # 7001 not announced again
        assert "already in the ledger (redelivered=True)" in listener.stderr()
    ledger = Ledger(home / "data" / "ledger.sqlite3")
    try:
        assert sorted(e.event.order_id for e in ledger.recent()) == ["7001", "7002"]
    finally:
        ledger.close()


def test_a_frozen_broker_is_noticed_by_heartbeat_and_consuming_resumes(account, amqp_settings, tmp_path):
    import signal

    settings = amqp_settings(connection__ping_interval=5, connection__ping_timeout=2,
                             connection__connect_timeout=2)  # heartbeat 3 s
    pid = int(account.broker.ctl("eval", "list_to_integer(os:getpid()).").strip())
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(settings, ledger, MemorySecrets({"amqp_password": account.password}))
    try:
        running.wait_state(ConnState.CONNECTED, timeout=15)
        # SIGSTOP: the TCP connection stays open, only the heartbeats stop.
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen_at = time.monotonic()
            running.wait_state(ConnState.WAITING, timeout=20)
            noticed_after = time.monotonic() - frozen_at
        finally:
            os.kill(pid, signal.SIGCONT)
        assert noticed_after < 2 * (3 + 5) + 2  # pika: at most two check windows of heartbeat + 5 s
        running.wait_state(ConnState.CONNECTED, timeout=20)
        with AmqpPublisher(settings, account.password) as publisher:
            publisher.publish({"order_id": 4242})
        assert [e.order_id for e in running.wait_orders(1, timeout=10)] == ["4242"]
    finally:
        running.stop()
        ledger.close()


def test_poison_messages_are_dead_lettered_and_do_not_block_the_queue(account, amqp_settings, admin, tmp_path):
    # The shop's own queue with a dead-letter exchange, used as it is (declare off).
    settings = amqp_settings(amqp__declare=False)
    queue, exchange = settings["amqp.queue"], settings["amqp.exchange"]
    admin.exchange_declare(f"{exchange}.dead", exchange_type="fanout", durable=True)
    admin.queue_declare(f"{queue}.dead", durable=True)
    admin.queue_bind(f"{queue}.dead", f"{exchange}.dead")
    admin.exchange_declare(exchange, exchange_type="direct", durable=True)
    admin.queue_declare(queue, durable=True, arguments={"x-dead-letter-exchange": f"{exchange}.dead"})
    admin.queue_bind(queue, exchange, routing_key="order")
    poison = [b"plain text, not JSON", b"[1, 2, 3]", b'{"customer_name": "no order id"}',
              b"\xff\xfe not UTF-8", b'{"order_id": {"nested": "wrong type"}}']
    with AmqpPublisher(settings, account.password) as publisher:
        for body in poison:
            publisher.publish(body)
        publisher.publish({"order_id": 8001, "order_amount": 9.9})

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(settings, ledger, MemorySecrets({"amqp_password": account.password}))
    try:
        running.wait_orders(1, timeout=15)
        assert running.order_ids() == ["8001"]
        wait_until(lambda: queue_depth(admin, f"{queue}.dead") == len(poison), 10, message="poison dead-lettered")
        assert queue_depth(admin, queue) == 0
        assert running.source.rejected == len(poison)
    finally:
        running.stop()
        ledger.close()


def test_declare_mismatch_gives_a_sentence_saying_what_to_fix(account, amqp_settings, admin, tmp_path):
    settings = amqp_settings()  # declare on, but the queue exists with other arguments
    admin.queue_declare(settings["amqp.queue"], durable=True, arguments={"x-max-length": 1000})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(settings, ledger, MemorySecrets({"amqp_password": account.password}))
    try:
        status = running.wait_state(ConnState.MISCONFIGURED, timeout=15)
        assert "PRECONDITION_FAILED" in status.detail
        assert "turn off" in status.sentence() and "Create the exchange and queue" in status.sentence()
    finally:
        running.stop()
        ledger.close()


def test_wrong_password_is_unauthorized_and_retried_slowly(account, amqp_settings, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(amqp_settings(), ledger, MemorySecrets({"amqp_password": "wrong"}))
    try:
        status = running.wait_state(ConnState.WAITING, timeout=15)
        assert status.reason is ConnState.UNAUTHORIZED and status.retry_in >= 10
        assert status.sentence().startswith("Wrong password or token for 127.0.0.1:5672.")
        assert "wrong" not in status.detail
    finally:
        running.stop()
        ledger.close()


def test_send_amqp_publishes_a_test_order_the_source_announces(account, amqp_settings, tmp_path, capsys):
    settings = amqp_settings(connection__url=f"amqp://127.0.0.1:5672/{account.vhost}")  # guest, no password
    assert notifier_main([
        "send", "--amqp", settings["connection.url"], "--exchange", settings["amqp.exchange"],
        "--routing-key", "order", "--amqp-queue", settings["amqp.queue"],
        "--order-id", "9001", "--amount", "56.5", "--number", "A-17",
    ]) == 0
    assert '"published": "9001"' in capsys.readouterr().out

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    running = RunningSource(settings, ledger, MemorySecrets())
    try:
        (order,) = running.wait_orders(1, timeout=15)
        assert (order.order_id, order.order_number, str(order.amount)) == ("9001", "A-17", "56.50")
    finally:
        running.stop()
        ledger.close()


def test_a_reminder_redelivered_hours_later_is_still_the_same_event(tmp_path):
    # The ledger merges reminders only within a minute; a redelivery after a long outage must be
    # recognised by the message's own identity (message id, else body and timestamp).
    from pika.spec import BasicProperties

    from notifier.core.intake import OrderIntake
    from notifier.core.sources.amqp import AmqpSource

    now = [1_700_000_000.0]
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: now[0])
    settings = Settings({"connection.protocol": "amqp", "connection.url": "amqp://shop@127.0.0.1/",
                         "json.kind_field": "type"})
    source = AmqpSource(settings, OrderIntake(ledger, MemorySecrets()), lambda status: None, MemorySecrets())
    body = b'{"type": 2, "order_id": 55}'
    try:
        for props in (BasicProperties(message_id="m-55"), BasicProperties(timestamp=1_700_000_000),
                      BasicProperties()):
            first = source.decode(body, props)
            assert ledger.record(first)
            now[0] += 4 * 3600
            assert not ledger.record(source.decode(body, props))  # the redelivery
            body = body.replace(b"55", b"56")
    finally:
        ledger.close()
