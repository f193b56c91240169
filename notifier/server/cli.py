"""`notifier server …` (run, add-shop, list-shops, rotate-token, remove-shop) and `notifier send`.

Credentials are printed once, by `add-shop` and `rotate-token`, and never read from the command
line: `send` takes the ingest secret from NOTIFIER_INGEST_SECRET or standard input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

SERVER_ACTIONS = ("run", "add-shop", "list-shops", "rotate-token", "remove-shop")
INGEST_SECRET_ENV = "NOTIFIER_INGEST_SECRET"


def default_data_dir() -> Path:
    from notifier.core import paths

    return paths.data_dir() / "server"


def _add_run_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On `server run` the defaults are suppressed so options given before `run` still count.
    def d(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--host", default=d("127.0.0.1"), help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=d(8765))
    parser.add_argument("--cert", type=Path, default=d(None), help="TLS certificate chain (PEM)")
    parser.add_argument("--key", type=Path, default=d(None), help="TLS private key (PEM)")
    parser.add_argument("--retention-days", type=float, default=d(7.0), help="keep events this long")
    parser.add_argument("--heartbeat", type=float, default=d(20.0), help="seconds between server pings")
    parser.add_argument("--queue-limit", type=int, default=d(1000),
                        help="frames a client may have unread before it is dropped as too slow")
    parser.add_argument("--skytakeout-shop", default=d(None), metavar="SHOP",
                        help="also serve SHOP's orders on the unauthenticated sky-take-out /ws/{sid}")
    parser.add_argument("--header-timeout", type=float, default=d(10.0), metavar="S",
                        help="seconds a connection has to send a request's headers (and a WebSocket upgrade)")
    parser.add_argument("--max-connections", type=int, default=d(10000), metavar="N",
                        help="open connections in total (kept below the open-file limit)")
    parser.add_argument("--max-per-address", type=int, default=d(4096), metavar="N",
                        help="open connections from one remote address (behind a proxy: all of them)")
    parser.add_argument("--log-level", default=d("INFO"), choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def add_server_commands(sub: argparse._SubParsersAction) -> None:
    server = sub.add_parser("server", help="run the reference push server or manage its shops")
    server.add_argument("--data-dir", type=Path, default=None,
                        help=f"server state directory (default: {default_data_dir_hint()})")
    _add_run_options(server, suppress=False)
    actions = server.add_subparsers(dest="server_action")
    _add_run_options(actions.add_parser("run", help="serve (the default)"), suppress=True)
    add = actions.add_parser("add-shop", help="create a shop and print its token and ingest secret once")
    add.add_argument("name")
    actions.add_parser("list-shops", help="list shops with their event counts")
    rotate = actions.add_parser("rotate-token", help="replace a shop's client token (and ingest secret)")
    rotate.add_argument("name")
    rotate.add_argument("--ingest", action="store_true", help="also replace the ingest secret")
    rotate.add_argument("--ingest-only", action="store_true", help="replace only the ingest secret")
    remove = actions.add_parser("remove-shop", help="delete a shop and all its events")
    remove.add_argument("name")
    server.set_defaults(func=cmd_server)

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
    send.add_argument("--idempotency-key")
    send.add_argument("--ca-file", help="CA certificate for a server with a private certificate")
    # `send --amqp URL …` publishes to a RabbitMQ exchange instead (protocol amqp).
    from notifier.core.sources.amqp_options import add_send_amqp_arguments

    add_send_amqp_arguments(send)
    send.set_defaults(func=cmd_send)


def default_data_dir_hint() -> str:
    return "<user data dir>/server"


def _print_credentials(creds, *, first: bool) -> None:
    print(f"shop: {creds.shop}")
    if creds.client_token:
        print(f"client token:  {creds.client_token}")
        print("  (for the desktop app: `notifier secret set notifier_token`, then paste it)")
    if creds.ingest_secret:
        print(f"ingest secret: {creds.ingest_secret}")
        print("  (for the order system: signs POST /api/v1/shops/{shop}/events)".replace("{shop}", creds.shop))
    print("These are shown only " + ("now" if first else "this once") + "; store them safely.")


def cmd_server(args: argparse.Namespace) -> int:
    from notifier.server.store import EventStore, ShopError

    data_dir = args.data_dir or default_data_dir()
    action = args.server_action or "run"
    if action == "run":
        return _run(args, data_dir)
    store = EventStore(data_dir)
    try:
        if action == "add-shop":
            _print_credentials(store.add_shop(args.name), first=True)
        elif action == "list-shops":
            shops = store.shops()
            if not shops:
                print("no shops yet: notifier server add-shop NAME")
            for shop in shops:
                created = datetime.fromtimestamp(shop.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                print(f"{shop.name}\tcreated {created}\tlast seq {shop.last_seq}\t{shop.stored_events} events kept")
        elif action == "rotate-token":
            creds = store.rotate(args.name, token=not args.ingest_only, ingest=args.ingest or args.ingest_only)
            _print_credentials(creds, first=False)
        elif action == "remove-shop":
            store.remove_shop(args.name)
            print(f"removed shop {args.name} and its events")
    except ShopError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _run(args: argparse.Namespace, data_dir: Path) -> int:
    import logging

    from notifier.server.config import ServerConfig
    from notifier.server.runner import run_foreground

    logging.basicConfig(level=getattr(logging, args.log_level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.cert) != bool(args.key):
        print("--cert and --key go together", file=sys.stderr)
        return 2
    config = ServerConfig(
        data_dir=data_dir, host=args.host, port=args.port, cert=args.cert, key=args.key,
        retention_days=args.retention_days, heartbeat_s=args.heartbeat, queue_limit=args.queue_limit,
        skytakeout_shop=args.skytakeout_shop, header_timeout_s=args.header_timeout,
        max_connections=args.max_connections, max_per_address=args.max_per_address,
    )
    return run_foreground(config)


def _read_ingest_secret() -> str | None:
    secret = os.environ.get(INGEST_SECRET_ENV)
    if secret:
        return secret.strip()
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("ingest secret: ").strip() or None
    return sys.stdin.readline().strip() or None


def cmd_send(args: argparse.Namespace) -> int:
    if getattr(args, "amqp", None):
        from notifier.core.sources.amqp import send_amqp

        return send_amqp(args)
    from notifier.core.protocol import PublishError, publish_order

    missing = [flag for flag, value in (("--url", args.url), ("--shop", args.shop), ("--order-id", args.order_id))
               if not value]
    if missing:
        print(f"notifier send: {', '.join(missing)} required (or --amqp URL for RabbitMQ)", file=sys.stderr)
        return 2

    secret = _read_ingest_secret()
    if not secret:
        print(f"No ingest secret: set {INGEST_SECRET_ENV} or pipe it on standard input.", file=sys.stderr)
        return 2
    context = None
    if args.ca_file:
        import ssl

        context = ssl.create_default_context(cafile=args.ca_file)
    try:
        result = publish_order(
            args.url, args.shop, secret, order_id=args.order_id, kind=args.kind,
            order_number=args.order_number, amount=args.amount, currency=args.currency,
            customer=args.customer, text=args.text, idempotency_key=args.idempotency_key, context=context,
        )
    except PublishError as exc:
        print(json.dumps({"error": exc.reason, "status": exc.status, "message": str(exc), "field": exc.field},
                         ensure_ascii=False), file=sys.stderr)
        return 1
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0
