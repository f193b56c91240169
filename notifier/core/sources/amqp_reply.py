"""Accept / reject for the `amqp` protocol: a message to the shop's own reply target.

Only when a reply routing key is set (`amqp.reply_routing_key`, with `amqp.reply_exchange`):
each decision from the action outbox is published as one persistent JSON message, with publisher
confirms and `mandatory` (a message no queue takes is a refusal, not a silent loss), its outbox
key as `message_id` so the consumer can drop a repeat (an unconfirmed publish is sent again).

    {"kind": "accepted" | "rejected", "order_id": "1234", "reason": null | "售罄",
     "idempotency_key": "amqp|…|1234|accept|1", "decided_at": "2026-01-01T00:00:00+00:00"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingConnection

from notifier.core.action_outbox import ACCEPT, OrderAction
from notifier.core.action_worker import ActionRefused
from notifier.core.i18n import tr
from notifier.core.settings import Settings

log = logging.getLogger(__name__)


def reply_configured(settings: Settings) -> bool:
    return bool(settings["amqp.reply_routing_key"].strip())


def reply_body(action: OrderAction) -> bytes:
    return json.dumps({
        "kind": "accepted" if action.action == ACCEPT else "rejected", "order_id": action.order_id,
        "reason": action.reason, "idempotency_key": action.key,
        "decided_at": datetime.fromtimestamp(action.created_at, UTC).isoformat(),
    }, ensure_ascii=False).encode("utf-8")


class AmqpReplySender:
    """The action sender for a RabbitMQ reply target (see action_worker.ActionSender)."""

    def __init__(self, settings: Settings, parameters: Callable[[], pika.ConnectionParameters],
                 label: str):
        """`parameters`: the broker's connection parameters, with the password read now (the
        source's own, so a password saved meanwhile is used)."""
        self.settings = settings
        self._parameters = parameters
        self._label = label
        self._conn: BlockingConnection | None = None
        self._channel = None

    def label(self) -> str:
        return self._label

    def _open_channel(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._conn = BlockingConnection(self._parameters())
        self._channel = self._conn.channel()
        self._channel.confirm_delivery()
        return self._channel

    def send(self, action: OrderAction) -> None:
        key = self.settings["amqp.reply_routing_key"].strip()
        try:
            self._open_channel().basic_publish(
                self.settings["amqp.reply_exchange"].strip(), key, reply_body(action),
                pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,
                                     content_type="application/json", message_id=action.key),
                mandatory=True)
        except pika.exceptions.UnroutableError:
            raise ActionRefused(tr("No queue takes accept / reject messages with routing key {key}.",
                                   key=key)) from None
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise OSError(f"RabbitMQ: {type(exc).__name__}: {exc}") from None  # retried

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is going away anyway
                pass
