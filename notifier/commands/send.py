"""`notifier send`: publish one signed test order to an Order Notifier server over HTTP(S), or
with `--amqp URL` to a RabbitMQ exchange.

The ingest secret is never read from the command line (where `ps` would show it): it comes from
NOTIFIER_INGEST_SECRET or standard input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from notifier.commands.parser import UsageError
from notifier.commands.send_amqp import add_send_amqp_arguments
from notifier.core.i18n import tr

INGEST_SECRET_ENV = "NOTIFIER_INGEST_SECRET"


def add_send_command(sub: argparse._SubParsersAction) -> None:
    send = sub.add_parser(
        "send", help="publish one signed order event (secret from NOTIFIER_INGEST_SECRET or stdin)"
    )
    send.add_argument("--url", help="server address, e.g. http://127.0.0.1:8765 (required)")
    send.add_argument("--shop", help="shop name (required)")
    send.add_argument("--kind", default="new_order",
                      choices=("new_order", "reminder", "cancelled", "refund"))
    send.add_argument("--order-id", help="order id (required)")
    send.add_argument("--number", dest="order_number")
    send.add_argument("--amount")
    send.add_argument("--currency", default="CNY")
    send.add_argument("--customer")
    send.add_argument("--text")
    send.add_argument("--item", action="append", dest="items", metavar="NAME[*QTY][@PRICE]",
                      help="a dish for the kitchen ticket, e.g. 宫保鸡丁*2@28 (repeat for each)")
    send.add_argument("--remark")
    send.add_argument("--phone")
    send.add_argument("--address")
    send.add_argument("--idempotency-key")
    send.add_argument("--ca-file", help="CA certificate for a server with a private certificate")
    # `send --amqp URL …` publishes to a RabbitMQ exchange instead (protocol amqp).
    add_send_amqp_arguments(send)
    send.set_defaults(func=cmd_send)


def read_secret(variable: str, prompt: str) -> str | None:
    """A secret from the environment variable, else standard input (asked for on a terminal)."""
    secret = os.environ.get(variable)
    if secret:
        return secret.strip()
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt).strip() or None
    return sys.stdin.readline().strip() or None


def tls_context(ca_file: str | None):
    if not ca_file:
        return None
    import ssl

    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise UsageError(tr("The CA file {path} cannot be used: {reason}.", path=ca_file,
                            reason=getattr(exc, "strerror", None) or exc)) from None


def parse_item(text: str) -> dict:
    """"宫保鸡丁*2@28" as {"name": "宫保鸡丁", "quantity": "2", "price": "28"} (the server checks
    the values and names a bad one)."""
    rest, at, price = text.rpartition("@")
    if not at:
        rest, price = text, ""
    name, star, quantity = rest.rpartition("*")
    if not star:
        name, quantity = rest, ""
    item: dict = {"name": name.strip()}
    if quantity.strip():
        item["quantity"] = quantity.strip()
    if price.strip():
        item["price"] = price.strip()
    return item


def cmd_send(args: argparse.Namespace) -> int:
    if getattr(args, "amqp", None):
        from notifier.commands.send_amqp import send_amqp

        return send_amqp(args)
    from notifier.core.protocol import PublishError, publish_order

    missing = [flag for flag, value in (("--url", args.url), ("--shop", args.shop), ("--order-id", args.order_id))
               if not value]
    if missing:
        raise UsageError(tr("notifier send needs {flags} (or --amqp URL for RabbitMQ).", flags=", ".join(missing)))
    if not args.url.lower().startswith(("http://", "https://")):
        # Events are POSTed; a ws:// address would mean the client stream, not the ingest.
        raise UsageError(tr("notifier send posts to the server's http:// or https:// address (got {url!r}).",
                            url=args.url))
    context = tls_context(args.ca_file)
    secret = read_secret(INGEST_SECRET_ENV, "ingest secret: ")
    if not secret:
        raise UsageError(tr("No ingest secret: set {variable} or pipe it on standard input.",
                            variable=INGEST_SECRET_ENV))
    try:
        result = publish_order(
            args.url, args.shop, secret, order_id=args.order_id, kind=args.kind,
            order_number=args.order_number, amount=args.amount, currency=args.currency,
            customer=args.customer, text=args.text, idempotency_key=args.idempotency_key, context=context,
            items=[parse_item(item) for item in args.items] if args.items else None,
            remark=args.remark, phone=args.phone, address=args.address,
        )
    except PublishError as exc:
        print(json.dumps({"error": exc.reason, "status": exc.status, "message": str(exc), "field": exc.field},
                         ensure_ascii=False), file=sys.stderr)
        return 1
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result, ensure_ascii=False))
    return 0
