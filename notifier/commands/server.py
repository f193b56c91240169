"""`notifier server …`: run, add-shop, set-callback, set-alert, list-shops, rotate-token,
remove-shop, migrate, shop-state, today.

Credentials are printed once, by `add-shop` and `rotate-token`, and never read from the command
line; an alert target (it holds a token) is read from standard input and never printed. (`notifier send`, the order system's side, is in send.py beside this file.)
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

from notifier.commands.parser import UsageError, port_number, positive_count, positive_number
from notifier.core.i18n import tr

SERVER_ACTIONS = ("run", "add-shop", "set-alert", "list-shops", "rotate-token", "remove-shop", "migrate",
                  "shop-state", "today")


def minutes_or_off(text: str) -> float:
    """A number of minutes, where 0 turns the thing off."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(tr("must be 0 (off) or a number of minutes above 0 (got {value!r})",
                                            value=text))
    return value


def default_data_dir() -> Path:
    from notifier.core import paths

    return paths.data_dir() / "server"


def _add_run_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On `server run` the defaults are suppressed so options given before `run` still count.
    def d(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--host", default=d("127.0.0.1"), help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=port_number, default=d(8765))
    parser.add_argument("--cert", type=Path, default=d(None), help="TLS certificate chain (PEM)")
    parser.add_argument("--key", type=Path, default=d(None), help="TLS private key (PEM)")
    parser.add_argument("--retention-days", type=positive_number, default=d(7.0), help="keep events this long")
    parser.add_argument("--heartbeat", type=positive_number, default=d(20.0), help="seconds between server pings")
    parser.add_argument("--queue-limit", type=positive_count, default=d(1000),
                        help="frames a client may have unread before it is dropped as too slow")
    parser.add_argument("--skytakeout-shop", default=d(None), metavar="SHOP",
                        help="also serve SHOP's orders on the unauthenticated sky-take-out /ws/{sid}")
    parser.add_argument("--header-timeout", type=float, default=d(10.0), metavar="S",
                        help="seconds a connection has to send a request's headers (and a WebSocket upgrade)")
    parser.add_argument("--max-connections", type=int, default=d(10000), metavar="N",
                        help="open connections in total (kept below the open-file limit)")
    parser.add_argument("--max-per-address", type=int, default=d(4096), metavar="N",
                        help="open connections from one remote address (behind a proxy: all of them)")
    parser.add_argument("--max-streams-per-shop", type=positive_count, default=d(32), metavar="N",
                        help="streams one shop may have open on this server (more are closed with code 4029)")
    parser.add_argument("--decisions-per-second", type=positive_number, default=d(20.0), metavar="N",
                        help="accepts and rejects one shop may send per second (more are answered 429)")
    parser.add_argument("--store-timeout", type=positive_number, default=d(2.0), metavar="S",
                        help="seconds a request waits for a Redis store before it answers 503 (the server "
                             "itself never waits for Redis)")
    parser.add_argument("--allow-callbacks-to", action="append", default=d([]), metavar="NETWORK",
                        help="let callbacks reach this address or network (e.g. 10.20.0.0/16) although it is "
                             "loopback or private; repeatable")
    parser.add_argument("--callback-lease", type=positive_number, default=d(30.0), metavar="S",
                        help="seconds a claimed callback to a shop's back end is this server's alone "
                             "(a server that dies holding one delays it this long; keep it above 10)")
    parser.add_argument("--no-pc-after", type=positive_number, default=d(60.0), metavar="S",
                        help="alert a shop's owner (set-alert) when an order arrives and no PC of the shop has "
                             "been connected for this many seconds")
    parser.add_argument("--no-pc-open-after", type=minutes_or_off, default=d(10.0), metavar="MIN",
                        help="alert a shop's owner (set-alert) when the shop is open (营业中) and no PC of it "
                             "has been connected for this many minutes, before any order comes; 0: off")
    parser.add_argument("--no-pc-gap", type=positive_number, default=d(600.0), metavar="S",
                        help="at least this many seconds between two no-PC alerts of one shop")
    parser.add_argument("--alert-language", default=d("zh_CN"), choices=("zh_CN", "en"),
                        help="the language of the no-PC alerts")
    parser.add_argument("--log-level", default=d("INFO"), choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _add_data_dir(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Every server command takes --data-dir, before or after the action's name; after it, the
    # default is suppressed so a --data-dir given before the action still counts.
    parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS if suppress else None,
                        help=f"server state directory (default: {default_data_dir_hint()})")
    parser.add_argument("--store", default=argparse.SUPPRESS if suppress else None, metavar="URL",
                        help="keep shops and events in Redis (redis://HOST:PORT/DB, rediss://…, or a cluster: "
                             "redis+cluster://HOST:PORT[,HOST:PORT…]), shared "
                             "by any number of servers; default: $NOTIFIER_STORE (where a password is "
                             "safer than on the command line), else SQLite in --data-dir")
    parser.add_argument("--redis-ca", type=Path, default=argparse.SUPPRESS if suppress else None, metavar="PEM",
                        help="CA certificate that signed a rediss:// server's certificate")
    parser.add_argument("--allow-volatile", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="serve from a Redis with persistence off (a Redis restart loses every event)")


def add_server_commands(sub: argparse._SubParsersAction) -> None:
    server = sub.add_parser("server", help="run the reference push server or manage its shops")
    _add_data_dir(server, suppress=False)
    _add_run_options(server, suppress=False)
    actions = server.add_subparsers(dest="server_action")
    run = actions.add_parser("run", help="serve (the default)")
    _add_run_options(run, suppress=True)
    add = actions.add_parser("add-shop", help="create a shop and print its token and ingest secret once")
    add.add_argument("name")
    add.add_argument("--callback-url", default=None, metavar="URL",
                     help="the shop's back end, called (signed) when a PC accepts or rejects an order")
    set_callback = actions.add_parser("set-callback", help="set or clear a shop's callback URL")
    set_callback.add_argument("name")
    set_callback.add_argument("--callback-url", required=True, metavar="URL", help='"" clears it')
    set_alert = actions.add_parser("set-alert", help="set or clear where the shop's owner is told that orders "
                                                     "arrive while no PC of the shop is connected")
    set_alert.add_argument("name")
    how = set_alert.add_mutually_exclusive_group(required=True)
    how.add_argument("--target-stdin", action="store_true",
                     help="read the target (an Apprise URL such as dingtalk://SECRET@TOKEN or ntfy://HOST/TOPIC; "
                          "several: one per line) from standard input; it holds a token, so never on the command line")
    how.add_argument("--clear", action="store_true", help="no alerts for this shop")
    list_shops = actions.add_parser("list-shops", help="list shops with their event counts")
    rotate = actions.add_parser("rotate-token", help="replace a shop's client token (and ingest secret)")
    rotate.add_argument("name")
    rotate.add_argument("--ingest", action="store_true", help="also replace the ingest secret")
    rotate.add_argument("--ingest-only", action="store_true", help="replace only the ingest secret")
    remove = actions.add_parser("remove-shop", help="delete a shop and all its events")
    remove.add_argument("name")
    shop_state = actions.add_parser("shop-state", help="whether a shop is open (营业) or closed (打烊), as its PCs set it")
    shop_state.add_argument("name")
    today = actions.add_parser("today", help="a shop's figures for the day: takings, valid orders, average order, "
                                             "orders by state (JSON)")
    today.add_argument("name")
    today.add_argument("--date", default=None, help="another day, YYYY-MM-DD (default: today)")
    today.add_argument("--tz", default=None, help="the shop's time zone, e.g. Asia/Shanghai (default: this machine's)")
    migrate = actions.add_parser("migrate", help="copy a server's shops and events between SQLite and Redis, "
                                                 "keeping sequence numbers, identities and tokens")
    migrate.add_argument("--from", dest="source", required=True, metavar="sqlite:DIR|redis://…",
                         help="where the shops are now")
    migrate.add_argument("--to", dest="target", required=True, metavar="redis://…|sqlite:DIR",
                         help="where they go (run it again to copy what is new since)")
    migrate.add_argument("--live", action="store_true",
                         help="copy from a SQLite folder a server is still serving; the shops stay closed "
                              "to ingest on the gateways until a pass without --live")
    for action in (run, add, set_callback, set_alert, list_shops, rotate, remove, shop_state, today):
        _add_data_dir(action, suppress=True)
    server.set_defaults(func=cmd_server)


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
    from notifier.server.store import ShopError

    data_dir = args.data_dir or default_data_dir()
    action = args.server_action or "run"
    if action == "run":
        return _run(args, data_dir)
    if action == "migrate":
        return _migrate(args)
    store = _open_store(args, data_dir)
    try:
        if action == "add-shop":
            _check_callback(args.callback_url)
            _print_credentials(store.add_shop(args.name), first=True)
            if args.callback_url:
                _set_callback(store, args.name, args.callback_url)
        elif action == "set-callback":
            from notifier.core.protocol import valid_shop_name

            if not valid_shop_name(args.name) or store.shop(args.name) is None:
                raise ShopError(f"no shop named {args.name!r}")
            _check_callback(args.callback_url)
            _set_callback(store, args.name, args.callback_url)
        elif action == "set-alert":
            from notifier.core.protocol import valid_shop_name

            if not valid_shop_name(args.name) or store.shop(args.name) is None:
                raise ShopError(f"no shop named {args.name!r}")
            _set_alert(store, args.name, None if args.clear else _read_alert_target())
        elif action == "list-shops":
            shops = store.shops()
            if not shops:
                print("no shops yet: notifier server add-shop NAME")
            alerts = _alert_targets(store)
            for shop in shops:
                created = datetime.fromtimestamp(shop.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                alert = f"\talerts to {alerts[shop.name]}" if shop.name in alerts else ""
                print(f"{shop.name}\tcreated {created}\tlast seq {shop.last_seq}\t{shop.stored_events} events kept"
                      f"{alert}")
        elif action == "rotate-token":
            creds = store.rotate(args.name, token=not args.ingest_only, ingest=args.ingest or args.ingest_only)
            _print_credentials(creds, first=False)
        elif action == "remove-shop":
            store.remove_shop(args.name)
            _alert_state(store).set_target(args.name, None)  # a shop created again starts without one
            print(f"removed shop {args.name} and its events")
        elif action == "shop-state":
            _print_shop_state(store, args.name)
        elif action == "today":
            _print_today(store, args)
    except ShopError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _known_shop(store, name: str) -> None:
    from notifier.core.protocol import valid_shop_name
    from notifier.server.store import ShopError

    if not valid_shop_name(name) or store.shop(name) is None:
        raise ShopError(tr("There is no shop named {name} on this server.", name=name))


def _print_shop_state(store, name: str) -> None:
    _known_shop(store, name)
    status, seq = store.shop_status(name)
    if status == "closed":
        print(tr("{shop} is closed since event {seq}.", shop=name, seq=seq))
    elif seq:
        print(tr("{shop} is open since event {seq}.", shop=name, seq=seq))
    else:
        print(tr("{shop} is open: it was never closed.", shop=name))


def _print_today(store, args: argparse.Namespace) -> None:
    import json
    import time

    from notifier.server import today

    _known_shop(store, args.name)
    now = time.time()
    try:
        zone = today.zone_of(args.tz)
        day, start, end = today.day_bounds(args.date, zone, now)
    except today.DayError as exc:
        if exc.field == "tz":
            raise UsageError(tr("The time zone {tz} is unknown: use a name such as Asia/Shanghai.", tz=args.tz)) from None
        raise UsageError(tr("The date {date} is not a day written YYYY-MM-DD.", date=args.date)) from None
    figures = today.figures(store.events_since(args.name, start), start, end)
    print(json.dumps({"shop": args.name, "date": day.isoformat(), "tz": str(zone),
                      "complete": start >= now - args.retention_days * 86400, **figures}, ensure_ascii=False))


def _check_callback(url: str | None) -> None:
    if url:
        from notifier.server.deliveries import CallbackError, check_callback_url

        try:
            check_callback_url(url)
        except CallbackError as exc:
            sentences = {
                "port": tr("The callback URL {url} has a port that is not a number from 0 to 65535.", url=url),
                "characters": tr("The callback URL {url} must not contain spaces or control characters.", url=url),
                "credentials": tr("The callback URL must not contain a user name or password: it is written to "
                                  "the log, and the signature is what proves a call comes from this server."),
                "host": tr("The callback URL {url} has no valid host name.", url=url),
            }
            raise UsageError(sentences.get(exc.reason) or tr(
                "The callback URL {url} must be an http:// or https:// address.", url=url)) from None


def _alert_state(store):
    from notifier.server.no_pc_state import alert_state_for

    return alert_state_for(store)


def _read_alert_target() -> str:
    """The target from standard input (a prompt on a terminal), checked; never from argv."""
    from notifier.core import phone_targets

    if sys.stdin is None:
        raise UsageError(tr("Give the alert target on standard input."))
    try:
        if sys.stdin.isatty():
            import getpass

            text = getpass.getpass(tr("alert target (an Apprise URL): "))
        else:
            text = sys.stdin.read(64 * 1024)
    except (OSError, ValueError, EOFError):  # closed, unreadable or not text
        text = ""
    targets = phone_targets.split_targets(text)
    if not targets:
        raise UsageError(tr("No alert target was given on standard input: give an Apprise URL such as "
                            "ntfy://HOST/TOPIC or dingtalk://SECRET@TOKEN."))
    for target in targets:
        problem = phone_targets.check(target)
        if problem is not None:
            raise UsageError(tr("The alert target cannot be used: {problem}.", problem=problem))
    return "\n".join(targets)


def _alert_targets(store) -> dict[str, str]:
    """Each shop's alert targets as `describe` names them (never the URL: it holds a token)."""
    from notifier.core import phone_targets

    return {shop: ", ".join(phone_targets.describe(url) for url in phone_targets.split_targets(text))
            for shop, text in _alert_state(store).targets().items()}


def _set_alert(store, shop: str, target: str | None) -> None:
    from notifier.core import phone_targets

    _alert_state(store).set_target(shop, target)
    if target is None:
        print(tr("no alerts for {shop}", shop=shop))
    else:
        print(tr("alerts for {shop} go to {targets}", shop=shop, targets=", ".join(
            phone_targets.describe(url) for url in phone_targets.split_targets(target))))


def _set_callback(store, shop: str, url: str) -> None:
    store.set_callback(shop, url or None)
    print(f"callback for {shop}: {url}" if url else f"no callback for {shop}")


def _open_store(args: argparse.Namespace, data_dir: Path):
    import sqlite3

    from notifier.server.store_api import is_redis_url, open_store

    url = _store_url(args)
    if url and not is_redis_url(url):
        raise UsageError(tr("--store takes a redis://, rediss:// or redis+cluster:// address; without it the server keeps its "
                            "data in SQLite in --data-dir."))
    if url:
        return _open_redis(args, url)
    try:
        return open_store(None, data_dir)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(tr("The server's data folder {path} cannot be used: {reason}.", path=data_dir,
                            reason=getattr(exc, "strerror", None) or exc)) from None


def _migrate(args: argparse.Namespace) -> int:
    import sqlite3

    import redis

    from notifier.server.migrate import (
        MigrationRefused,
        RedisSide,
        SqliteSide,
        migrate,
        source_is_served,
    )
    from notifier.server.store_api import is_redis_url

    source, target = args.source, args.target
    usage = tr("migrate copies --from sqlite:DIR --to redis://HOST:PORT/DB, or back: --from redis://… --to sqlite:DIR.")
    if source.startswith("sqlite:") and is_redis_url(target):
        folder, url, to_redis = Path(source.removeprefix("sqlite:")), target, True
    elif is_redis_url(source) and target.startswith("sqlite:"):
        folder, url, to_redis = Path(target.removeprefix("sqlite:")), source, False
    else:
        raise UsageError(usage)
    if to_redis and not args.live and source_is_served(folder):
        raise UsageError(tr("A server is serving {folder}. Stop it and run migrate again, or copy from it while it "
                            "runs with --live (its shops then stay closed to orders on the gateways until a "
                            "migrate without --live, after you stopped it).", folder=folder))
    store = _open_redis(args, url)
    sides = []
    try:
        redis_side = RedisSide(store)
        folder_side = SqliteSide(folder, target=not to_redis)
        sides = [folder_side, redis_side]
        moved = migrate(folder_side if to_redis else redis_side, redis_side if to_redis else folder_side,
                        live=args.live and to_redis, say=print)
    except MigrationRefused as exc:
        raise UsageError(tr("Nothing was copied: {reason}.", reason=str(exc))) from None
    except redis.RedisError as exc:
        raise UsageError(tr("The Redis store cannot be used: {reason}.", reason=str(exc).rstrip("."))) from None
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(tr("The server's data folder {path} cannot be used: {reason}.", path=folder,
                            reason=getattr(exc, "strerror", None) or exc)) from None
    finally:
        for side in sides:
            side.close()
        store.close()
    print(f"{sum(m.events for m in moved)} events copied in all; {sum(1 for m in moved if m.skipped)} shops skipped")
    return 1 if any(m.skipped for m in moved) else 0


def _store_url(args: argparse.Namespace) -> str | None:
    import os

    return getattr(args, "store", None) or os.environ.get("NOTIFIER_STORE") or None


def _open_redis(args: argparse.Namespace, url: str):
    from urllib.parse import urlsplit

    import redis

    from notifier.server.redis_store import RedisEventStore

    try:
        return RedisEventStore.from_url(url, ca=getattr(args, "redis_ca", None))
    except (redis.RedisError, OSError, ValueError, TypeError) as exc:  # TypeError: an unknown ?option=
        reason = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).rstrip(".")
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:  # the URL may carry one; it never goes into a message
            reason = reason.replace(password, "***")
        raise UsageError(tr("The Redis store cannot be used: {reason}.", reason=reason)) from None


def _check_durable(store, allow_volatile: bool) -> None:
    """Refuse a Redis that keeps nothing on disk, unless told it is fine."""
    from notifier.server.redis_store import VolatileRedis, check_persistence

    if allow_volatile:
        return
    import redis

    try:
        check_persistence(store.client)
    except redis.RedisError:  # a managed Redis may refuse CONFIG to its clients
        raise UsageError(tr("This Redis does not say whether it keeps its data on disk (CONFIG GET is refused). "
                            "Check its persistence yourself, then start the server with --allow-volatile.")) from None
    except VolatileRedis:
        raise UsageError(tr("This Redis keeps nothing on disk (appendonly no, no save points): a restart would "
                            "lose every shop and event. Turn on AOF (appendonly yes) or start the server with "
                            "--allow-volatile.")) from None


def _check_listening(host: str, port: int) -> None:
    """Say so now when the address cannot be listened on, instead of a traceback from the server."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # The same option as the server's own socket, so a port in TIME_WAIT is not refused.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except (OSError, UnicodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(tr("The server cannot listen on {host} port {port}: {reason}.", host=host or "*",
                            port=port, reason=reason)) from None


def _check_tls(cert: Path | None, key: Path | None) -> None:
    if bool(cert) != bool(key):
        raise UsageError(tr("--cert and --key go together: give both or neither."))
    if cert and key:
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise UsageError(tr("The certificate {cert} and key {key} cannot be used: {reason}.", cert=cert,
                                key=key, reason=getattr(exc, "strerror", None) or exc)) from None


def _run(args: argparse.Namespace, data_dir: Path) -> int:
    import logging

    try:
        from notifier.server.config import ServerConfig
        from notifier.server.runner import run_foreground
    except ImportError as exc:  # the server's libraries are optional in a minimal install
        print(tr("The push server is not available here: {error}", error=exc), file=sys.stderr)
        return 1

    logging.basicConfig(level=getattr(logging, args.log_level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _check_tls(args.cert, args.key)
    _check_listening(args.host, args.port)
    store = _open_store(args, data_dir)
    try:
        shared = getattr(store, "shared", False)
        if shared:
            _check_durable(store, bool(getattr(args, "allow_volatile", False)))
    finally:
        store.close()
    folder_lock = None if shared else _claim_data_folder(data_dir)
    config = ServerConfig(
        data_dir=data_dir, host=args.host, port=args.port, cert=args.cert, key=args.key,
        retention_days=args.retention_days, heartbeat_s=args.heartbeat, queue_limit=args.queue_limit,
        skytakeout_shop=args.skytakeout_shop, header_timeout_s=args.header_timeout,
        max_connections=args.max_connections, max_per_address=args.max_per_address,
        max_streams_per_shop=args.max_streams_per_shop, store_timeout_s=args.store_timeout,
        decisions_per_second=args.decisions_per_second,
        allow_volatile=bool(getattr(args, "allow_volatile", False)),
        store_url=_store_url(args), redis_ca=getattr(args, "redis_ca", None),
        callback_lease_s=args.callback_lease, callbacks_allowed_to=_callback_networks(args.allow_callbacks_to),
        no_pc_after_s=args.no_pc_after, no_pc_gap_s=args.no_pc_gap, alert_language=args.alert_language,
        no_pc_open_after_s=args.no_pc_open_after * 60,
    )
    try:
        return run_foreground(config)
    finally:
        if folder_lock is not None:
            folder_lock.close()


def _callback_networks(specs: list[str]) -> tuple[str, ...]:
    from notifier.server.destinations import parse_networks

    try:
        parse_networks(specs)
    except ValueError:
        raise UsageError(tr("--allow-callbacks-to takes an address or a network such as 10.20.0.0/16, not {value}.",
                            value=", ".join(specs))) from None
    return tuple(specs)


def _claim_data_folder(data_dir: Path):
    from notifier.server.store import DataFolderBusy, claim_data_folder

    try:
        return claim_data_folder(data_dir)
    except DataFolderBusy:
        raise UsageError(tr("Another notifier server is already serving {folder}: stop it first, or give this "
                            "one its own --data-dir.", folder=data_dir)) from None
    except OSError as exc:
        raise UsageError(tr("The server's data folder {path} cannot be used: {reason}.", path=data_dir,
                            reason=exc.strerror or exc)) from None
