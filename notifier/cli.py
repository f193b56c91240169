"""The `notifier` command: the tray app by default, plus listen, server, send, secret, doctor.

This is the top of the layers: it turns arguments into plain values (a `Launch`), starts what a
command needs (the embedded demo server, the app, the listener) and passes them down. Every
mistake on the command line ends as one sentence on stderr and exit status 2; anything unexpected
as one sentence pointing at the log (the traceback goes to the log file) and exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from notifier import __version__
from notifier.commands.parser import CommandParser, UsageError
from notifier.commands.settings_flags import add_connection_flags, launch_from_args, read_settings
from notifier.core import i18n
from notifier.core.launch import Launch
from notifier.core.settings import SECRETS, SettingsError

log = logging.getLogger("notifier")

SECRET_NAMES = tuple(s.name for s in SECRETS)


def setup_logging(level: str, *, to_file: bool = False, background: bool = False) -> None:
    from notifier.core.logs import configure

    configure(level, to_file=to_file, background=background)


def start_demo(launch: Launch) -> tuple[Launch, Callable[[], None]]:
    """Start the embedded demo server; the launch pointed at it, and how to stop it."""
    from notifier.server.demo import DemoServer

    demo = DemoServer()
    demo.start()
    return replace(launch, connection_settings=demo.client_settings, secrets=demo.secrets(),
                   ledger_path=demo.ledger_path()), demo.stop


def _cmd_app(args: argparse.Namespace, launch: Launch) -> int:
    """`notifier` with no subcommand: the tray app; with `--self-test`, the installers' check."""
    try:
        from notifier.desktop.app import run_app

        if launch.self_test:  # the doctor's module stays out of the running app (0.4 MB)
            from notifier.desktop.doctor import self_test
    except ImportError as exc:
        print(i18n.tr("The desktop app is not available here: {error}", error=exc), file=sys.stderr)
        return 1
    if not launch.self_test:
        from notifier.core.malloc_arenas import limit_malloc_arenas

        limit_malloc_arenas()  # before the first thread: the logging thread, right below
    # The app logs from its main thread: lines are written by a thread of their own (core.logs).
    setup_logging(launch.log_level, to_file=not launch.self_test, background=not launch.self_test)
    if launch.self_test:
        return self_test(launch.settings)
    if not launch.demo:
        return run_app(launch)
    launch, stop_demo = start_demo(launch)
    try:
        return run_app(launch)
    finally:
        stop_demo()  # after the app has stopped its connection and closed the demo ledger


def _cmd_listen(args: argparse.Namespace, launch: Launch) -> int:
    from notifier.core.listener import run_listener
    from notifier.core.secrets import SecretFileRefused, SecretStore

    setup_logging(launch.log_level)
    if launch.demo:
        launch, stop_demo = start_demo(launch)
        try:
            return run_listener(launch.connection_settings(launch.settings), launch.secrets,
                                ledger_path=launch.ledger_path)
        finally:
            stop_demo()
    from notifier.core.connections import chosen, enabled

    settings = launch.settings
    if getattr(args, "connection", None):
        try:
            settings = chosen(settings, args.connection)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not any(c.values.get("connection.url") for c in enabled(settings)):
        raise UsageError(i18n.tr("No server address is set: use --url, --config, or the settings dialog."))
    try:
        secrets = SecretStore.for_settings(settings)
    except SecretFileRefused as refused:
        raise UsageError(refused.sentence) from None
    return run_listener(settings, secrets)


def _secret_target(args: argparse.Namespace, store):
    """Where `notifier secret` reads and writes: the keyring itself, or with `--connection NAME`
    that connection's own entries (core.connections.ConnectionSecrets); and the secret names it
    speaks of. UsageError (a sentence, exit 2) for a name the settings do not have."""
    if not args.connection:
        return store, SECRET_NAMES, ""
    from notifier.core.connections import ConnectionSecrets, connection_secret_names, named

    try:
        connection = named(read_settings(args.config), args.connection)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.name and args.name not in connection_secret_names():
        raise UsageError(i18n.tr("{name} belongs to the whole app, not to one connection: leave out --connection.",
                                 name=args.name))
    return ConnectionSecrets(store, connection), _used_secrets(connection), connection.name


def _used_secrets(connection) -> tuple[str, ...]:
    """The secrets of a connection that its protocol uses."""
    from notifier.core.connections import connection_secret_names

    own = connection_secret_names()
    return tuple(s.name for s in SECRETS if s.name in own and connection.protocol in s.used_by)


def _other_connections(config: Path | None) -> list:
    """The connections whose secrets have names of their own (all but the one upgraded from a
    single-connection file, whose names are the keyring's plain ones), each with its secrets'
    view of the keyring; none when the settings cannot be read (that is said elsewhere)."""
    from notifier.core.connections import connections_of

    try:
        settings = read_settings(config)
    except (UsageError, ValueError, OSError):
        return []
    return [c for c in connections_of(settings) if c.scope]


def _cmd_secret(args: argparse.Namespace) -> int:
    from notifier.core.secrets import SecretStore

    if args.action != "status" and not args.name:
        raise UsageError(i18n.tr("secret {action} needs a NAME: {names}", action=args.action,
                                 names=", ".join(SECRET_NAMES)))
    # The sentences below say everything; the store's technical warnings stay out of the way.
    setup_logging("ERROR")
    store = SecretStore()
    target, names, connection = _secret_target(args, store)
    if args.action == "set":
        # Read from stdin (never argv, where `ps` would show it); prompt without echo on a terminal.
        value = getpass.getpass(f"{connection}: {args.name}: " if connection else f"{args.name}: ") if sys.stdin.isatty() else sys.stdin.readline()
        value = value.rstrip("\r\n")
        if not value:
            print(i18n.tr("Nothing was read from standard input; nothing was saved."), file=sys.stderr)
            return 2
        problem = target.set(args.name, value)
        if problem:
            print(problem.sentence(), file=sys.stderr)
            return 1
        print(i18n.tr("Saved {name} of {connection} in {backend}.", name=args.name, connection=connection,
                      backend=store.backend_name()) if connection else
              i18n.tr("Saved {name} in {backend}.", name=args.name, backend=store.backend_name()))
        return 0
    if args.action in ("clear", "delete"):
        problem = target.clear(args.name)
        if problem:
            print(problem.sentence(), file=sys.stderr)
            return 1
        print(i18n.tr("Removed {name} of {connection} from {backend}.", name=args.name, connection=connection,
                      backend=store.backend_name()) if connection else
              i18n.tr("Removed {name} from {backend}.", name=args.name, backend=store.backend_name()))
        return 0
    # status: say which secrets are saved, never their values
    def say(prefix: str, secrets, name: str) -> None:
        value, problem = secrets.get(name)
        print(f"{prefix}{name}: {i18n.tr('saved') if value else problem.sentence()}")

    for name in names:
        say("", target, name)
    if not connection:  # the whole keyring: every further connection's own secrets too
        from notifier.core.connections import ConnectionSecrets

        for other in _other_connections(args.config):
            for name in _used_secrets(other):
                say(f"{other.name} · ", ConnectionSecrets(store, other), name)
    return 0


class _NotJustTheApp(Exception):
    """The command line asks for more than starting the app (or has a mistake to be told)."""


class _AppOnlyParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotJustTheApp(message)


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """Every command's parser; with `commands=False` only the app's own flags, quiet on a mistake
    and without --help (see `parse_command_line`)."""
    if commands:
        parser: argparse.ArgumentParser = CommandParser(prog="notifier", description="Order Notifier")
    else:
        parser = _AppOnlyParser(prog="notifier", add_help=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_connection_flags(parser)
    parser.add_argument("--self-test", action="store_true", help="check this installation and exit")
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command")

    listen = sub.add_parser("listen", help="run the connection without a GUI, printing JSON lines")
    add_connection_flags(listen, subcommand=True)
    listen.add_argument("--connection", action="append", metavar="NAME",
                        help="listen only on this connection of the settings, by its name "
                             "(repeatable; default: every connection that is on)")
    listen.set_defaults(func=_cmd_listen, uses_settings=True)

    secret = sub.add_parser("secret", help="store or remove a password/token in the system keyring")
    secret.add_argument("action", choices=("set", "clear", "delete", "status"),
                        help="set (read from standard input), clear or delete (the same), status")
    secret.add_argument("name", nargs="?", choices=SECRET_NAMES, default=None)
    secret.add_argument("--connection", metavar="NAME",
                        help="the secret of this connection of the settings, by its name "
                             "(default: the first connection's, and the app's own)")
    secret.add_argument("--config", type=Path, metavar="FILE",
                        help="the settings file that names the connections (default: the saved one)")
    secret.set_defaults(func=_cmd_secret, uses_settings=False)

    from notifier.commands.print_test import add_print_test_command
    from notifier.commands.send import add_send_command
    from notifier.commands.server import add_server_commands
    from notifier.commands.shop import add_shop_command

    add_send_command(sub)
    add_server_commands(sub)
    add_shop_command(sub)
    add_print_test_command(sub)
    try:
        from notifier.desktop.cli import add_desktop_commands
    except ImportError:
        pass
    else:
        add_desktop_commands(sub)
    return parser


def _saved_language() -> str:
    """The language of the saved settings, or the system's when they cannot be read."""
    try:
        return read_settings(None)["general.language"]
    except (SettingsError, UsageError, OSError):
        return "system"


def parse_command_line(argv: list[str] | None) -> argparse.Namespace:
    """The parsed arguments. Starting the app (no subcommand, no --help: how a shop PC runs it)
    is parsed without the subcommands, whose modules would otherwise stay in the running app's
    memory (~0.5 MB); anything else, a mistake included, by the whole parser, which says it."""
    try:
        args, rest = build_parser(commands=False).parse_known_args(argv)
    except _NotJustTheApp:
        rest = ["(a mistake)"]
    if not rest:
        return args
    return build_parser().parse_args(argv)


def _run(argv: list[str] | None) -> int:
    # Said in the owner's language from the first sentence on (argparse's own words stay English).
    i18n.set_language(_saved_language())
    args = parse_command_line(argv)
    if args.command is None:
        func, uses_settings = _cmd_app, True
    else:
        # A command that reads settings says so (`uses_settings`) and gets them resolved, with
        # the language they name; the others are called with their arguments alone.
        func, uses_settings = args.func, getattr(args, "uses_settings", False)
    if not uses_settings:
        return func(args)
    try:
        launch = launch_from_args(args)
    except SettingsError as exc:
        print(i18n.tr("Settings problem: {problem}", problem=exc), file=sys.stderr)
        return 2
    i18n.set_language(launch.settings["general.language"])
    return func(args, launch)


def _report_unexpected(exc: BaseException) -> int:
    """One sentence on the console; the traceback in the log file, where a helper can read it."""
    from notifier.core.logs import file_handler, log_file

    where = ""
    try:
        path = log_file()
        handler = file_handler()
    except OSError:
        pass
    else:
        crash_log = logging.getLogger("notifier.unexpected")
        crash_log.propagate = False  # the console gets the sentence below, not the traceback
        crash_log.addHandler(handler)
        try:
            crash_log.error("unexpected error", exc_info=exc)
        finally:
            crash_log.removeHandler(handler)
            handler.close()
        where = str(path)
    if where:
        sentence = i18n.tr("Order Notifier stopped on an unexpected error ({error}); the details are in {log}.",
                           error=type(exc).__name__, log=where)
    else:
        sentence = i18n.tr("Order Notifier stopped on an unexpected error ({error}).", error=type(exc).__name__)
    print(sentence, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(i18n.tr("Settings problem: {problem}", problem=exc), file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help, --version, or a mistake already told
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last guard: a sentence, never a traceback
        return _report_unexpected(exc)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
