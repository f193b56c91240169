"""Options of `notifier send --amqp URL …`, kept apart from the source so that building the
command line does not import pika (start-up time of every `notifier` command)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _add(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
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
    _add(group, "--count", type=int, default=1, help="how many orders to publish")
