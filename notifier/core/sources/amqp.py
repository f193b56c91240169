"""RabbitMQ source: orders from a durable queue, acknowledged only once the ledger has them.

The shop's order system publishes each paid order (or reminder) to a durable direct exchange; a
durable queue bound to it keeps the orders while the notifier is not running. This source is that
queue's consumer: it decodes each message body with the same JSON field mapping as the
JSON-over-WebSocket source, writes the event to the ledger, and only then acknowledges the
message. A crash between the two means the broker delivers the message again; the ledger already
has it, so it is acknowledged without being announced a second time.

Why pika's `BlockingConnection`, polled with `process_data_events(time_limit=…)`, on the source's
own thread: pika is not thread-safe, and with the blocking adapter every pika call (consume, ack,
reject, close) happens on one thread we own, in plain sequential code, exactly like the WebSocket
loop. The poll returns at least every `POLL_S`, and `stop`/`reconnect_now` wake it at once through
`add_callback_threadsafe` (the one thread-safe call pika offers). Heartbeats are answered inside
the poll, so a dead broker is noticed. A `SelectConnection` would give the same, but as a chain of
callbacks that is harder to read and to stop cleanly.

Test hook: `NOTIFIER_TEST_HOOK_PAUSE_BEFORE_ACK_S` (seconds) pauses between the ledger write and
the acknowledgement, so an end-to-end test can kill the process inside that window. It is never
set in normal use, and a warning is logged when it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from notifier.core.connection import ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import tr
from notifier.core.reconnect import classify_network_error
from notifier.core.secrets import SecretState
from notifier.core.settings import Settings
from notifier.core.sources.base import Source
from notifier.core.sources.decoding import NotAnOrder
from notifier.core.sources.json_mapping import FieldMapping

log = logging.getLogger(__name__)
if logging.getLogger("pika").level == logging.NOTSET:
    # pika logs every connection step at INFO and every failure with a traceback; this module
    # reports the same as connection states and one log line each.
    logging.getLogger("pika").setLevel(logging.CRITICAL)

PROTOCOL = "amqp"
PASSWORD_SECRET = "amqp_password"
TEST_HOOK_PAUSE_ENV = "NOTIFIER_TEST_HOOK_PAUSE_BEFORE_ACK_S"
POLL_S = 1.0  # longest a stop or reconnect request waits if the wake-up call is missed


class BrokerProblem(Exception):
    """A failure with a known state and a sentence saying what to do about it."""

    def __init__(self, state: ConnState, sentence: str):
        super().__init__(sentence)
        self.state = state
        self.sentence = sentence


class LedgerWriteFailed(Exception):
    """The ledger could not store a message: it must stay unacknowledged on the broker."""


# -- connection parameters -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    vhost: str
    user: str
    tls: bool


def broker_address(settings: Settings) -> BrokerAddress:
    """Where to connect, from `amqp://USER@HOST:PORT/VHOST` and the amqp.* settings."""
    url = settings["connection.url"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerProblem(ConnState.MISCONFIGURED, tr("The server address is not valid: {error}", error=exc)) from None
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise BrokerProblem(
            ConnState.MISCONFIGURED,
            tr("The server address must look like amqp://USER@HOST:5672/VHOST (got {value!r}).", value=url[:80]),
        )
    tls = parts.scheme == "amqps"
    # "/" is the default vhost; in a URL it is written %2F ("amqp://host/%2F").
    vhost = settings["amqp.vhost"] or unquote(parts.path[1:]) or "/"
    user = settings["amqp.user"] or unquote(parts.username or "")
    return BrokerAddress(parts.hostname, port or (5671 if tls else 5672), vhost, user, tls)


def _ssl_options(settings: Settings, host: str) -> pika.SSLOptions:
    context = ssl.create_default_context(cafile=settings["connection.ca_file"] or None)
    if not settings["connection.verify_tls"]:
        log.warning("TLS certificate verification is OFF for %s (set by the user)", host)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return pika.SSLOptions(context, server_hostname=host)


def connection_parameters(
    settings: Settings, address: BrokerAddress, password: str | None
) -> pika.ConnectionParameters:
    if address.user:
        credentials = pika.PlainCredentials(address.user, password or "")
    else:
        # No user anywhere: RabbitMQ's built-in account, which it allows from the same machine only.
        credentials = pika.PlainCredentials("guest", "guest")
    timeout = float(settings["connection.connect_timeout"])
    # pika sends a heartbeat every heartbeat / 2 and drops the connection after a whole check
    # window (heartbeat + 5 s) without a byte from the broker: a dead broker is noticed within
    # 2 × (heartbeat + 5) s, 40 s with the default ping settings (20 s + 10 s).
    heartbeat = max(2, (settings["connection.ping_interval"] + settings["connection.ping_timeout"]) // 2)
    return pika.ConnectionParameters(
        host=address.host,
        port=address.port,
        virtual_host=address.vhost,
        credentials=credentials,
        heartbeat=heartbeat,
        connection_attempts=1,
        socket_timeout=timeout,
        stack_timeout=timeout * 2,
        blocked_connection_timeout=timeout * 3,
        ssl_options=_ssl_options(settings, address.host) if address.tls else None,
        client_properties={"connection_name": "order-notifier", "product": "Order Notifier"},
    )


def routing_key_of(settings: Settings) -> str:
    # The default exchange routes by queue name.
    return settings["amqp.routing_key"] if settings["amqp.exchange"] else settings["amqp.queue"]


def declare_topology(channel: BlockingChannel, settings: Settings) -> None:
    """Create the durable exchange, queue and binding, or check the queue exists (declare off).

    A broker that disagrees closes the channel (PRECONDITION_FAILED, NOT_FOUND, ACCESS_REFUSED);
    `_channel_problem` turns that into a sentence.
    """
    queue, exchange = settings["amqp.queue"], settings["amqp.exchange"]
    if not settings["amqp.declare"]:
        channel.queue_declare(queue, passive=True)
        return
    if exchange:
        channel.exchange_declare(exchange, exchange_type="direct", durable=True)
    channel.queue_declare(queue, durable=True)
    if exchange:
        channel.queue_bind(queue, exchange, routing_key=routing_key_of(settings))


def _channel_problem(exc: pika.exceptions.ChannelClosedByBroker, settings: Settings, user: str) -> BrokerProblem:
    code, text = exc.reply_code, str(exc.reply_text)[:300]
    queue, exchange = settings["amqp.queue"], settings["amqp.exchange"] or "(default)"
    if code == 406:  # PRECONDITION_FAILED: declared with other options than the existing one
        sentence = tr(
            "The broker refused the exchange or queue settings ({reply}). They already exist with "
            "other options: turn off \"Create the exchange and queue if missing\" to use them as "
            "they are, or choose other names.",
            reply=text,
        )
    elif code == 404:
        sentence = tr(
            "Queue {queue} or exchange {exchange} does not exist on the broker ({reply}). Create it "
            "there, or turn on \"Create the exchange and queue if missing\".",
            queue=queue, exchange=exchange, reply=text,
        )
    elif code == 403:
        sentence = tr(
            "User {user} may not use queue {queue} or exchange {exchange} ({reply}). Give the user "
            "permissions on the broker (rabbitmqctl set_permissions).",
            user=user or "guest", queue=queue, exchange=exchange, reply=text,
        )
    else:
        sentence = tr("The broker closed the channel: {reply}", reply=text)
    return BrokerProblem(ConnState.MISCONFIGURED, sentence)


def classify(exc: BaseException) -> tuple[ConnState, str]:
    """A connection failure as a state and a short technical detail (no secrets)."""
    if isinstance(exc, BrokerProblem):
        return exc.state, exc.sentence
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError | pika.exceptions.AuthenticationError):
        return ConnState.UNAUTHORIZED, "the broker refused the user name or password (ACCESS_REFUSED)"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        return ConnState.MISCONFIGURED, tr(
            "The broker does not let this user into the virtual host, or the virtual host does not "
            "exist ({reply}). Check the address and the user's permissions.",
            reply=_reply_text(exc),
        )
    if isinstance(exc, LedgerWriteFailed):
        return ConnState.UNREACHABLE, f"could not save an order to the history: {exc}"
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return ConnState.UNREACHABLE, f"closed by the broker: {exc.reply_text}"[:200]
    if isinstance(exc, pika.exceptions.StreamLostError):
        return ConnState.UNREACHABLE, "connection lost"
    if isinstance(exc, pika.exceptions.AMQPHeartbeatTimeout):
        return ConnState.UNREACHABLE, "the broker stopped answering (heartbeat missed)"
    if isinstance(exc, pika.exceptions.IncompatibleProtocolError):
        return ConnState.UNREACHABLE, "the server does not speak AMQP 0-9-1"
    if isinstance(exc, pika.exceptions.AMQPConnectionError) and exc.args:
        inner = exc.args[0]
        # pika wraps the socket/TLS error (AMQPConnectorSocketConnectError(ConnectionRefusedError…)).
        cause = inner.args[0] if isinstance(inner, Exception) and inner.args else inner
        if isinstance(cause, BaseException):
            return classify(cause)
        return ConnState.UNREACHABLE, f"{type(inner).__name__}: {str(inner)[:200]}"
    return classify_network_error(exc)


def _reply_text(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text[:200]


# -- the source ------------------------------------------------------------------------------


class AmqpSource(Source):
    protocol = PROTOCOL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mapping = FieldMapping.from_settings(self.settings)
        self._conn_lock = threading.Lock()
        self._conn: BlockingConnection | None = None
        self.rejected = 0  # poison messages rejected
        self.duplicates = 0  # redelivered messages the ledger already had
        self._pause_before_ack = float(os.environ.get(TEST_HOOK_PAUSE_ENV) or 0)
        if self._pause_before_ack:
            log.warning("test hook %s is set: pausing %.1f s before each ack", TEST_HOOK_PAUSE_ENV, self._pause_before_ack)

    # -- waking the thread ---------------------------------------------------------------

    def interrupt(self) -> None:
        with self._conn_lock:
            conn = self._conn
        if conn is not None:
            try:
                conn.add_callback_threadsafe(lambda: None)  # makes the poll return now
            except Exception:  # noqa: BLE001 - closed already: the poll ends by itself
                pass

    def classify(self, exc: BaseException) -> tuple[ConnState, str]:
        return classify(exc)

    def action_sender(self):
        """The reply publisher when a reply target is configured (docs/amqp.md)."""
        from notifier.core.sources import amqp_reply

        if not amqp_reply.reply_configured(self.settings):
            return None
        return amqp_reply.AmqpReplySender(self.settings, self.connection_parameters, self.server_label())

    def actions_unavailable(self) -> str | None:
        from notifier.core.sources import amqp_reply

        if amqp_reply.reply_configured(self.settings):
            return None
        return tr("No reply target configured — this PC can only stop the ringing.")

    def _password(self, address: BrokerAddress) -> str | None:
        if not address.user:
            return None
        password, problem = self.secrets.get(PASSWORD_SECRET)
        if password is None and problem is not None:
            # Read again on every attempt: saving it (or unlocking the keyring) fixes this.
            sentence = problem.sentence()
            if problem.state is SecretState.NOT_FOUND:
                sentence += " " + tr("Save the RabbitMQ password with: notifier secret set amqp_password")
            raise BrokerProblem(ConnState.MISCONFIGURED, sentence)
        return password

    def connection_parameters(self) -> pika.ConnectionParameters:
        """How to reach the broker, with the password read now (it may have been saved since)."""
        address = broker_address(self.settings)
        return connection_parameters(self.settings, address, self._password(address))

    def connect(self) -> tuple[BlockingConnection, BlockingChannel]:
        address = broker_address(self.settings)
        conn = BlockingConnection(self.connection_parameters())
        try:
            channel = conn.channel()
            try:
                declare_topology(channel, self.settings)
            except pika.exceptions.ChannelClosedByBroker as exc:
                raise _channel_problem(exc, self.settings, address.user) from None
            channel.basic_qos(prefetch_count=int(self.settings["amqp.prefetch"]))
            channel.basic_consume(self.settings["amqp.queue"], self._on_message, auto_ack=False)
        except BaseException:
            self._drop(conn)
            raise
        with self._conn_lock:
            self._conn = conn
        if self.stopping or self.loop.reconnect_requested:
            self.loop.wake()  # a request that came in while connecting must not wait for a message
        return conn, channel

    def disconnect(self, handle: tuple[BlockingConnection, BlockingChannel], clean: bool) -> None:
        self._drop(handle[0])

    def _drop(self, conn: BlockingConnection) -> None:
        with self._conn_lock:
            if self._conn is conn:
                self._conn = None
        try:
            if conn.is_open:
                conn.close()  # unacknowledged messages go back to the queue
        except Exception:  # noqa: BLE001 - it is going away either way
            pass

    def pump(self, handle: tuple[BlockingConnection, BlockingChannel]) -> str:
        """Dispatch deliveries until the connection ends; returns why it ended."""
        conn, channel = handle
        while not self.stopping:
            if self.loop.reconnect_requested:
                return "reconnect requested"
            conn.process_data_events(time_limit=POLL_S)
            if not channel.consumer_tags:
                return "the broker cancelled the subscription (was the queue deleted?)"
        return "stopped"

    # -- one message ---------------------------------------------------------------------

    def _on_message(
        self, channel: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes
    ) -> None:
        try:
            event = self.decode(body, props)
        except NotAnOrder as poison:
            self._reject(channel, method, str(poison), body)
            return
        except Exception:  # noqa: BLE001 - a decoder bug must not turn into endless redelivery
            log.exception("could not decode a message from queue %s", self.settings["amqp.queue"])
            self._reject(channel, method, "could not be decoded", body)
            return
        try:
            is_new = self.deliver(event, durable=True)  # we ack right after: no resend
        except Exception as exc:  # noqa: BLE001 - not stored: leave it unacknowledged
            log.exception("could not store an order from queue %s", self.settings["amqp.queue"])
            # Ending the connection hands the message back to the queue for a later attempt.
            raise LedgerWriteFailed(type(exc).__name__) from exc
        if not is_new:
            self.duplicates += 1
            log.debug("message %s already in the ledger (redelivered=%s)", event.event_id, method.redelivered)
        if self._pause_before_ack:
            self.loop.wait_stopped(self._pause_before_ack)
        channel.basic_ack(method.delivery_tag)

    def _reject(self, channel: BlockingChannel, method: Basic.Deliver, reason: str, body: bytes) -> None:
        # Without requeue: the broker dead-letters it if the queue has a dead-letter exchange and
        # drops it otherwise; requeueing would bring it straight back, for ever.
        self.rejected += 1
        log.warning(
            "rejected a message from queue %s that is not an order (%s); it goes to the queue's "
            "dead-letter exchange if it has one: %.200r",
            self.settings["amqp.queue"], reason, body[:200],
        )
        channel.basic_reject(method.delivery_tag, requeue=False)

    def decode(self, body: bytes, props: BasicProperties | None = None) -> OrderEvent:
        """The order in one message body, or NotAnOrder (poison: rejected, not requeued)."""
        if len(body) > int(self.settings["connection.max_frame_kib"]) * 1024:
            raise NotAnOrder("message too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise NotAnOrder("invalid UTF-8") from None
        event = self.mapping.decode(text, source=self.protocol, server=self.server_label())
        return dataclasses.replace(event, **_identity(body, props))


def _identity(body: bytes, props: BasicProperties | None) -> dict[str, Any]:
    """A stable event id (and time) for a message, so that a redelivery is the same event.

    The publisher's message id when it set one; otherwise a digest of the body and timestamp. New
    orders are deduplicated by order id anyway; this matters for reminders, which without it
    would be keyed by arrival time and announced again after a redelivery.
    """
    changes: dict[str, Any] = {}
    timestamp = getattr(props, "timestamp", None)
    if isinstance(timestamp, int) and 0 < timestamp < 32503680000:  # before year 3000
        changes["occurred_at"] = datetime.fromtimestamp(timestamp, UTC)
    message_id = getattr(props, "message_id", None)
    if message_id:
        changes["event_id"] = f"msg:{str(message_id)[:128]}"
    else:
        digest = hashlib.sha256(body + f"|{timestamp}".encode()).hexdigest()[:32]
        changes["event_id"] = f"sha256:{digest}"
    return changes


# -- publishing test orders (`notifier send --amqp`) ----------------------------------------


def _set_path(target: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def order_message(
    mapping: FieldMapping,
    order_id: str,
    *,
    kind: OrderKind = OrderKind.NEW_ORDER,
    order_number: str | None = None,
    amount: str | None = None,
    customer: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """A message body the given field mapping decodes into this order."""
    body: dict[str, Any] = {}
    if mapping.kind_field:
        values = {
            OrderKind.NEW_ORDER: mapping.new_order_values,
            OrderKind.REMINDER: mapping.reminder_values,
            OrderKind.CANCELLED: mapping.cancelled_values,
        }.get(kind) or mapping.new_order_values
        _set_path(body, mapping.kind_field, values[0])
    _set_path(body, mapping.order_id_field, int(order_id) if order_id.isdigit() else order_id)
    for path, value in (
        (mapping.order_number_field, order_number),
        (mapping.amount_field, amount),
        (mapping.customer_field, customer),
        (mapping.text_field, text),
    ):
        if value is not None and path:
            _set_path(body, path, value)
    return body


class AmqpPublisher:
    """Publishes persistent messages to the configured exchange, with publisher confirms, so a
    message the broker could not route or store raises instead of vanishing."""

    def __init__(self, settings: Settings, password: str | None):
        self.settings = settings
        address = broker_address(settings)
        self._conn = BlockingConnection(connection_parameters(settings, address, password))
        try:
            self._channel = self._conn.channel()
            if settings["amqp.declare"]:
                # So an order sent before the notifier's first start waits in the queue.
                try:
                    declare_topology(self._channel, settings)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    raise _channel_problem(exc, settings, address.user) from None
            self._channel.confirm_delivery()
        except BaseException:
            self.close()
            raise

    def publish(self, body: Mapping[str, Any] | str | bytes, *, message_id: str | None = None) -> str:
        """Publish one message; returns its message id. Raises pika.exceptions.UnroutableError
        when no queue is bound for the routing key."""
        if isinstance(body, Mapping):
            body = json.dumps(body, ensure_ascii=False)
        data = body.encode("utf-8") if isinstance(body, str) else body
        message_id = message_id or uuid.uuid4().hex
        props = BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            timestamp=int(time.time()),
        )
        self._channel.basic_publish(
            self.settings["amqp.exchange"], routing_key_of(self.settings), data, props, mandatory=True
        )
        return message_id

    def close(self) -> None:
        try:
            if self._conn.is_open:
                self._conn.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> AmqpPublisher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
