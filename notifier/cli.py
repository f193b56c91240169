"""The `notifier` command: the tray app by default, plus listen, server, send, secret, doctor."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from notifier import __version__
from notifier.core import i18n
from notifier.core.settings import SECRETS, Settings, SettingsError, load

log = logging.getLogger("notifier")

SECRET_NAMES = tuple(s.name for s in SECRETS)


def add_connection_flags(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """Flags that override the saved settings for one run, without changing them.

    On a subcommand the flags get no defaults of their own: argparse lets a subcommand's defaults
    overwrite flags given before it (`notifier --url X listen` would lose the URL), and its `--set`
    items are collected apart (`set_more`) so items before and after the subcommand both count.
    """
    first = len(parser._actions)
    parser.add_argument("--config", type=Path, help="settings file to use instead of the saved one")
    parser.add_argument("--protocol", choices=("skytakeout", "json", "notifier", "amqp"))
    parser.add_argument("--url", help="push server address (ws:// or wss://)")
    parser.add_argument("--shop", help="shop name on an Order Notifier server")
    parser.add_argument("--admin-url", help="sky-take-out admin API address")
    parser.add_argument("--admin-user", help="sky-take-out admin user name")
    parser.add_argument("--queue", help="RabbitMQ queue to consume (protocol amqp)")
    parser.add_argument("--ca-file", help="CA certificate file for a private server")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="any setting, e.g. --set connection.ping_interval=10 (repeatable)",
    )
    parser.add_argument("--demo", action="store_true", help="run against the embedded demo server")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    if subcommand:
        for action in parser._actions[first:]:
            action.default = argparse.SUPPRESS
            if action.dest == "set":
                action.dest = "set_more"


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load(args.config) if getattr(args, "config", None) else load()
    changes: dict[str, object] = {}
    for flag, key in (
        ("protocol", "connection.protocol"),
        ("url", "connection.url"),
        ("shop", "connection.shop"),
        ("admin_url", "skytakeout.admin_url"),
        ("admin_user", "skytakeout.admin_user"),
        ("ca_file", "connection.ca_file"),
        ("queue", "amqp.queue"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            changes[key] = value
    for item in (getattr(args, "set", None) or []) + (getattr(args, "set_more", None) or []):
        key, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(item, "use KEY=VALUE")
        changes[key.strip()] = value.strip()
    return settings.updated(changes) if changes else settings


def setup_logging(level: str, *, to_file: bool = False) -> None:
    from notifier.core.logs import configure

    configure(level, to_file=to_file)


def _cmd_listen(args: argparse.Namespace) -> int:
    from notifier.core.listener import run_listener
    from notifier.core.secrets import SecretFileRefused, SecretStore

    settings = settings_from_args(args)
    setup_logging(args.log_level or settings["general.log_level"])
    i18n.set_language(settings["general.language"])
    if args.demo:
        from notifier.server.demo import DemoServer

        demo = DemoServer()
        demo.start()
        try:
            return run_listener(demo.client_settings(settings), demo.secrets(), ledger_path=demo.ledger_path())
        finally:
            demo.stop()
    if not settings["connection.url"]:
        print(i18n.tr("No server address is set: use --url, --config, or the settings dialog."), file=sys.stderr)
        return 2
    try:
        secrets = SecretStore.for_settings(settings)
    except SecretFileRefused as refused:
        print(refused.sentence, file=sys.stderr)
        return 2
    return run_listener(settings, secrets)


def _cmd_secret(args: argparse.Namespace) -> int:
    from notifier.core.secrets import SecretStore

    # The sentences below say everything; the store's technical warnings stay out of the way.
    setup_logging("ERROR")
    store = SecretStore()
    if args.action == "set":
        # Read from stdin (never argv, where `ps` would show it); prompt without echo on a terminal.
        value = getpass.getpass(f"{args.name}: ") if sys.stdin.isatty() else sys.stdin.readline()
        value = value.rstrip("\r\n")
        if not value:
            print(i18n.tr("Nothing was read from standard input; nothing was saved."), file=sys.stderr)
            return 2
        problem = store.set(args.name, value)
        if problem:
            print(problem.sentence(), file=sys.stderr)
            return 1
        print(i18n.tr("Saved {name} in {backend}.", name=args.name, backend=store.backend_name()))
        return 0
    if args.action == "clear":
        problem = store.clear(args.name)
        if problem:
            print(problem.sentence(), file=sys.stderr)
            return 1
        print(i18n.tr("Removed {name} from {backend}.", name=args.name, backend=store.backend_name()))
        return 0
    # status: say which secrets are saved, never their values
    for name in SECRET_NAMES:
        value, problem = store.get(name)
        print(f"{name}: {i18n.tr('saved') if value else problem.sentence()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notifier", description="Order Notifier")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_connection_flags(parser)
    parser.add_argument("--self-test", action="store_true", help="check this installation and exit")
    sub = parser.add_subparsers(dest="command")

    listen = sub.add_parser("listen", help="run the connection without a GUI, printing JSON lines")
    add_connection_flags(listen, subcommand=True)
    listen.set_defaults(func=_cmd_listen)

    secret = sub.add_parser("secret", help="store or remove a password/token in the system keyring")
    secret.add_argument("action", choices=("set", "clear", "status"))
    secret.add_argument("name", nargs="?", choices=SECRET_NAMES, default=None)
    secret.set_defaults(func=_cmd_secret)

    try:
        from notifier.server.cli import add_server_commands
    except ImportError:  # the server is optional in a minimal install
        pass
    else:
        add_server_commands(sub)
    try:
        from notifier.desktop.cli import add_desktop_commands
    except ImportError:
        pass
    else:
        add_desktop_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "secret" and args.action != "status" and not args.name:
        parser.error("secret set/clear needs a NAME: " + ", ".join(SECRET_NAMES))
    func = getattr(args, "func", None)
    try:
        if func is None:
            try:
                from notifier.desktop.app import run_app
            except ImportError as exc:
                print(i18n.tr("The desktop app is not available here: {error}", error=exc), file=sys.stderr)
                return 1
            return run_app(args)
        return func(args)
    except SettingsError as exc:
        print(i18n.tr("Settings problem: {problem}", problem=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
