"""The flags that change settings for one run (`--config`, `--url`, `--set KEY=VALUE`, …) and how
they become a `Launch`: one list of flags, read in one place."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from notifier.commands.parser import UsageError
from notifier.core import paths
from notifier.core.i18n import tr
from notifier.core.launch import Launch
from notifier.core.settings import Settings, SettingsError
from notifier.core.settings_file import load

# Every flag that overrides one setting: (flag, setting key, argparse options). The parser is
# built from this list and the overrides are read from it, so the two cannot drift apart.
OVERRIDE_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--protocol", "connection.protocol", {"choices": ("skytakeout", "json", "notifier", "amqp")}),
    ("--url", "connection.url", {"help": "push server address (ws:// or wss://)"}),
    ("--shop", "connection.shop", {"help": "shop name on an Order Notifier server"}),
    ("--admin-url", "skytakeout.admin_url", {"help": "sky-take-out admin API address"}),
    ("--admin-user", "skytakeout.admin_user", {"help": "sky-take-out admin user name"}),
    ("--queue", "amqp.queue", {"help": "RabbitMQ queue to consume (protocol amqp)"}),
    ("--ca-file", "connection.ca_file", {"help": "CA certificate file for a private server"}),
)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_connection_flags(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """Flags that override the saved settings for one run, without changing them.

    On a subcommand the flags get no defaults of their own: argparse lets a subcommand's defaults
    overwrite flags given before it (`notifier --url X listen` would lose the URL), and its `--set`
    items are collected apart (`set_more`) so items before and after the subcommand both count.
    """
    added = [parser.add_argument("--config", type=Path,
                                 help="settings file to use instead of the saved one")]
    for flag, _key, options in OVERRIDE_FLAGS:
        added.append(parser.add_argument(flag, **options))
    added.append(parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="any setting, e.g. --set connection.ping_interval=10 (repeatable)",
    ))
    added.append(parser.add_argument("--demo", action="store_true",
                                     help="run against the embedded demo server"))
    added.append(parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR")))
    if subcommand:
        for action in added:
            action.default = argparse.SUPPRESS
            if action.dest == "set":
                action.dest = "set_more"


def set_items(items: Iterable[str]) -> dict[str, str]:
    """`--set KEY=VALUE` items as setting changes; SettingsError for an item without `=`."""
    changes: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(item, tr("use KEY=VALUE"))
        changes[key.strip()] = value.strip()
    return changes


def read_settings(config: Path | None) -> Settings:
    """The saved settings, or those of the file `--config` names; UsageError when it is not one."""
    path = config if config is not None else paths.config_file()
    if config is not None and not config.exists():
        raise UsageError(tr("The settings file {path} does not exist.", path=config))
    if path.is_dir():
        raise UsageError(tr("{path} is a folder, not a settings file.", path=path))
    try:
        return load(path)
    except OSError as exc:
        raise UsageError(tr("The settings file {path} cannot be read: {reason}.", path=path,
                            reason=exc.strerror or type(exc).__name__)) from None


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The setting changes the command line asks for, flags first, then `--set` items in order."""
    changes: dict[str, Any] = {}
    for flag, key, _options in OVERRIDE_FLAGS:
        value = getattr(args, _dest(flag), None)
        if value is not None:
            changes[key] = value
    changes.update(set_items([*(getattr(args, "set", None) or []), *(getattr(args, "set_more", None) or [])]))
    return changes


def launch_from_args(args: argparse.Namespace) -> Launch:
    """The settings and switches of this run; SettingsError or UsageError when they are wrong."""
    config: Path | None = getattr(args, "config", None)
    settings = read_settings(config)
    changes = overrides(args)
    if changes:
        settings = settings.updated(changes)
    return Launch(
        settings=settings,
        config_path=config if config is not None else paths.config_file(),
        has_overrides=bool(changes) or config is not None,
        demo=bool(getattr(args, "demo", False)),
        self_test=bool(getattr(args, "self_test", False)),
        log_level=getattr(args, "log_level", None) or settings["general.log_level"],
    )
