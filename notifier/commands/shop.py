"""`notifier shop`: what a PC of the shop does on the reference server, from a terminal: accept,
reject, send out (deliver), complete or cancel an order, open or close the shop, read whether it
is open and the day's figures. For an operator trying a server, or a script.

The client token is never read from the command line (where `ps` would show it): it comes from
NOTIFIER_CLIENT_TOKEN or standard input. The answer is printed as JSON; a refusal is one
sentence on stderr (exit status 1), a mistake in the command one sentence (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from notifier.commands.parser import UsageError
from notifier.commands.send import read_secret, tls_context
from notifier.core.i18n import tr

CLIENT_TOKEN_ENV = "NOTIFIER_CLIENT_TOKEN"
ORDER_ACTIONS = ("accept", "reject", "deliver", "complete", "cancel")
SHOP_ACTIONS = ("open", "close", "status", "today")


def add_shop_command(sub: argparse._SubParsersAction) -> None:
    shop = sub.add_parser("shop", help="act as a PC of the shop on the reference server: accept, reject, deliver, "
                                       "complete, cancel, open, close, status, today (token from "
                                       f"{CLIENT_TOKEN_ENV} or stdin)")
    shop.add_argument("action", choices=ORDER_ACTIONS + SHOP_ACTIONS)
    shop.add_argument("order_id", nargs="?", help="the order (for accept, reject, deliver, complete, cancel)")
    shop.add_argument("--url", required=True, help="server address, e.g. http://127.0.0.1:8765")
    shop.add_argument("--shop", required=True, help="shop name")
    shop.add_argument("--reason", help="why (reject; required for cancel)")
    shop.add_argument("--date", help="today: another day, YYYY-MM-DD")
    shop.add_argument("--tz", help="today: the shop's time zone, e.g. Asia/Shanghai (default: the server's)")
    shop.add_argument("--idempotency-key", help="the same key again is the same click, never a second one")
    shop.add_argument("--ca-file", help="CA certificate for a server with a private certificate")
    shop.set_defaults(func=cmd_shop)


def _refusal(exc, args: argparse.Namespace) -> str:
    """The server's refusal as one sentence in the user's language."""
    from notifier.core.protocol import PublishError

    assert isinstance(exc, PublishError)
    states = {
        "open": tr("waiting to be accepted"), "accepted": tr("accepted"), "rejected": tr("rejected"),
        "out_for_delivery": tr("out for delivery"), "completed": tr("completed"),
        "cancelled": tr("cancelled by the customer"), "cancelled_by_shop": tr("cancelled by the shop"),
    }
    outcome = exc.answer.get("outcome")
    if exc.status == 409 and outcome in states:
        return tr("Order {order} cannot be changed that way: it is {state}.", order=args.order_id,
                  state=states[outcome])
    if exc.status == 0:
        return tr("Cannot reach {url}: {reason}.", url=args.url, reason=str(exc).rstrip("."))
    if exc.status == 401:
        return tr("The server refused the token for shop {shop}: check {variable}.", shop=args.shop,
                  variable=CLIENT_TOKEN_ENV)
    if exc.status == 429:
        return tr("Too many decisions at once for this shop: try again in a moment.")
    return tr("The server refused it ({status} {reason}): {message}", status=exc.status, reason=exc.reason,
              message=exc.answer.get("message") or str(exc))


def cmd_shop(args: argparse.Namespace) -> int:
    from notifier.core import protocol

    if args.action in ORDER_ACTIONS and not args.order_id:
        raise UsageError(tr("notifier shop {action} needs the order id.", action=args.action))
    if args.action not in ORDER_ACTIONS and args.order_id:
        raise UsageError(tr("notifier shop {action} takes no order id.", action=args.action))
    if args.action == "cancel" and not (args.reason or "").strip():
        raise UsageError(tr("notifier shop cancel needs --reason: the customer is told why."))
    if not args.url.lower().startswith(("http://", "https://")):
        raise UsageError(tr("notifier shop talks to the server's http:// or https:// address (got {url!r}).",
                            url=args.url))
    context = tls_context(args.ca_file)
    token = read_secret(CLIENT_TOKEN_ENV, "client token: ")
    if not token:
        raise UsageError(tr("No client token: set {variable} or pipe it on standard input.",
                            variable=CLIENT_TOKEN_ENV))
    options = {"context": context}
    try:
        if args.action in ORDER_ACTIONS:
            result = protocol.send_order_action(args.url, args.shop, token, args.order_id, args.action,
                                                reason=args.reason, idempotency_key=args.idempotency_key, **options)
        elif args.action in ("open", "close"):
            result = protocol.set_shop_open(args.url, args.shop, token, args.action == "open",
                                            idempotency_key=args.idempotency_key, **options)
        elif args.action == "status":
            result = protocol.shop_status(args.url, args.shop, token, **options)
        else:
            result = protocol.today_figures(args.url, args.shop, token, date=args.date, tz=args.tz, **options)
    except protocol.PublishError as exc:
        print(_refusal(exc, args), file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0

