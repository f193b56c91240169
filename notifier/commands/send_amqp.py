"""`notifier send --amqp URL …`: publish test orders to a RabbitMQ exchange.

The options are added without importing pika (start-up time of every `notifier` command); the
publisher and the message format live in `notifier.core.sources.amqp`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from notifier.commands.parser import positive_count
from notifier.core.i18n import tr


def _add(parser, *flags: str, **kwargs) -> None:
    """Add an option unless the `send` command already has it (it shares some with other targets)."""
    if not any(flag in parser._option_string_actions for flag in flags):
        parser.add_argument(*flags, **kwargs)


def add_send_amqp_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `notifier send --amqp URL …` (the password comes from the keyring)."""
    group = parser.add_argument_group("RabbitMQ")
    group.add_argument("--amqp", metavar="URL", help="publish to this broker: amqp://USER@HOST:5672/VHOST")
    group.add_argument("--exchange", help="exchange (default: the amqp.exchange setting)")
    group.add_argument("--routing-key", help="routing key (default: the amqp.routing_key setting)")
    group.add_argument("--amqp-queue", help="queue to declare and bind (default: the amqp.queue setting)")
    _add(group, "--config", type=Path, help="settings file to use instead of the saved one")
    _add(group, "--set", action="append", default=[], metavar="KEY=VALUE", help="any setting (repeatable)")
    _add(group, "--order-id", help="order id (default: a random number)")
    _add(group, "--number", dest="order_number", help="order number shown to people")
    _add(group, "--amount", help="amount, e.g. 56.50")
    _add(group, "--customer", help="customer name")
    _add(group, "--text", help="free text")
    _add(group, "--kind", choices=("new_order", "reminder"), default="new_order")
    _add(group, "--count", type=positive_count, default=1, help="how many orders to publish")


def send_amqp(args: argparse.Namespace) -> int:
    """Publish test orders to the exchange; 0 when the broker confirmed all of them."""
    import pika.exceptions

    from notifier.commands.settings_flags import read_settings, set_items
    from notifier.core.connection import ConnectionStatus
    from notifier.core.events import OrderKind
    from notifier.core.secrets import SecretStore
    from notifier.core.settings import SettingsError
    from notifier.core.sources.amqp import (
        PASSWORD_SECRET,
        PROTOCOL,
        AmqpPublisher,
        BrokerProblem,
        broker_address,
        classify,
        order_message,
        routing_key_of,
    )
    from notifier.core.sources.json_mapping import FieldMapping

    settings = read_settings(getattr(args, "config", None))
    try:
        changes: dict[str, Any] = {"connection.protocol": PROTOCOL, "connection.url": args.amqp}
        changes.update(set_items(getattr(args, "set", None) or []))
        for flag, key in (("exchange", "amqp.exchange"), ("routing_key", "amqp.routing_key"),
                          ("amqp_queue", "amqp.queue"), ("ca_file", "connection.ca_file")):
            if getattr(args, flag, None) is not None:
                changes[key] = getattr(args, flag)
        settings = settings.updated(changes)
        address = broker_address(settings)
    except (SettingsError, BrokerProblem) as exc:
        print(tr("Settings problem: {problem}", problem=exc), file=sys.stderr)
        return 2
    password = None
    if address.user:
        password, problem = SecretStore().get(PASSWORD_SECRET)
        if problem is not None:
            print(problem.sentence(), file=sys.stderr)
            return 1
    mapping = FieldMapping.from_settings(settings)
    kind = OrderKind(getattr(args, "kind", None) or "new_order")
    count = getattr(args, "count", 1) or 1
    try:
        with AmqpPublisher(settings, password) as publisher:
            for i in range(count):
                order_id = getattr(args, "order_id", None) or str(int(time.time() * 1000) % 10**12 + i)
                if count > 1 and getattr(args, "order_id", None):
                    order_id = f"{order_id}{i}"
                body = order_message(
                    mapping, order_id, kind=kind,
                    order_number=getattr(args, "order_number", None),
                    amount=getattr(args, "amount", None),
                    customer=getattr(args, "customer", None),
                    text=getattr(args, "text", None),
                )
                message_id = publisher.publish(body)
                print(json.dumps({"published": order_id, "message_id": message_id}))
    except pika.exceptions.UnroutableError:
        print(tr("The broker has no queue bound to exchange {exchange} with routing key {key}; the order "
                 "was not delivered.", exchange=settings["amqp.exchange"] or "(default)",
                 key=routing_key_of(settings)), file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - report the failure as a sentence, not a traceback
        state, detail = classify(exc)
        print(ConnectionStatus(state, address.host, detail).sentence() + f" ({detail})", file=sys.stderr)
        return 1
    return 0
