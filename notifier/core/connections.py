"""The shop's connections: every platform it takes orders from, as a list in the settings file.

Each connection has its own protocol, address, account and settings of the connection groups
(`connection`, `skytakeout`, `json`, `amqp`), a short name the shop chose ("小程序", "美团",
"总店"), a colour, and whether it is on. In the file it is one `[[connections]]` table:

    [[connections]]
    id = "c4f1a2"            # stable: scopes ledger keys, cursors and keyring entries
    name = "美团"
    color = "#e4572e"
    enabled = true
    [connections.connection]
    protocol = "amqp"
    url = "amqp://shop@mq.example:5672/"

The first connection is also what the flat `connection.*` … keys of `Settings` hold, so every
part written for one connection (the doctor, the demo, command-line overrides) keeps working and
acts on the first one.

A settings file from before the list (one `[connection]` table and its groups) is upgraded in
place on load (`load_tables`): its connection becomes the first of the list with the id
`UPGRADED_ID`. That connection keeps everything it had: its order history keys and resume cursors
are unscoped as before (`Connection.scope`), and its keyring entries keep their names
(`Connection.secret_name`); every other connection's are led by its id.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from notifier.core.i18n import tr
from notifier.core.settings import (
    CONNECTION_GROUPS,
    PROTOCOL_LABELS,
    PROTOCOLS,
    SECRETS,
    SETTINGS,
    Settings,
    SettingsError,
    flatten,
)

log = logging.getLogger(__name__)

UPGRADED_ID = "main"
# Colours offered to a new connection, in turn; the shop can pick any other.
PALETTE = ("#1f77b4", "#e4572e", "#2a9d8f", "#f4a261", "#8e44ad", "#6c757d")
MAX_NAME_CHARS = 16
_ID = re.compile(r"^[a-z0-9]{1,16}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
CONNECTION_KEYS = tuple(s.key for s in SETTINGS if s.group in CONNECTION_GROUPS)
_DEFAULTS = {s.key: s.default for s in SETTINGS if s.group in CONNECTION_GROUPS}


def protocol_label(protocol: str) -> str:
    """The kind of server, as a shop names it; the name an upgraded connection starts with."""
    return tr(PROTOCOL_LABELS[protocol]) if protocol in PROTOCOL_LABELS else protocol


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    name: str
    color: str = PALETTE[0]
    enabled: bool = True
    # Dotted keys of the connection groups that differ from their defaults.
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.values.get("connection.protocol", _DEFAULTS["connection.protocol"])

    @property
    def scope(self) -> str:
        """What sets this connection's order keys and cursors apart from the others': its id,
        except for the upgraded one, whose history from before the list keeps its keys."""
        return "" if self.id == UPGRADED_ID else self.id

    def settings(self, base: Settings) -> Settings:
        """`base` with this connection's values in the connection groups: what its source runs
        with. SettingsError (naming this connection) when they do not fit together."""
        try:
            # Without the list: what the source runs with is this connection alone.
            return base.updated({**_DEFAULTS, **self.values}).with_connections(())
        except SettingsError as exc:
            raise SettingsError(f"{self.name}: {exc.key}", exc.problem) from None

    def secret_name(self, name: str) -> str:
        """The keyring entry of this connection's secret `name`: led by the connection's id. The
        upgraded connection keeps the names it had (`notifier_token` …): its saved secrets are
        found as they are, and `notifier secret set NAME` still changes them."""
        return name if self.id == UPGRADED_ID else f"{self.id}_{name}"

    def with_values(self, values: Mapping[str, Any]) -> Connection:
        """This connection with `values` (dotted keys of the connection groups, any others are
        ignored), keeping only what differs from the defaults."""
        kept = {key: values[key] for key in CONNECTION_KEYS
                if key in values and values[key] != _DEFAULTS[key]}
        return replace(self, values=kept)


def new_id(taken: Sequence[str] = ()) -> str:
    while True:
        # os.urandom is what `secrets` draws from; `secrets` would load OpenSSL (via hmac) into
        # every app, 3.5 MB, for six hex digits.
        candidate = "c" + os.urandom(3).hex()
        if candidate not in taken:
            return candidate


def next_color(connections: Sequence[Connection]) -> str:
    used = {c.color.lower() for c in connections}
    return next((c for c in PALETTE if c not in used), PALETTE[len(connections) % len(PALETTE)])


def connections_of(settings: Settings) -> tuple[Connection, ...]:
    """Every connection of `settings` (on or off), the first with the flat connection values
    (which command-line overrides and the demo change). Settings without a list have one
    connection: the upgraded one, from the flat values."""
    flat = {key: settings[key] for key in CONNECTION_KEYS}
    listed: tuple[Connection, ...] = tuple(settings.connections)
    if not listed:
        return (Connection(UPGRADED_ID, protocol_label(flat["connection.protocol"])).with_values(flat),)
    return (listed[0].with_values(flat), *listed[1:])


def enabled(settings: Settings) -> tuple[Connection, ...]:
    return tuple(c for c in connections_of(settings) if c.enabled)


def with_connections(settings: Settings, connections: Sequence[Connection]) -> Settings:
    """`settings` holding `connections` (checked), the flat connection keys the first one's."""
    check(connections)
    first = {**_DEFAULTS, **connections[0].values} if connections else {}
    return settings.updated(first).with_connections(tuple(connections))


def chosen(settings: Settings, names: Sequence[str]) -> Settings:
    """`settings` with only the connections called `names` (switched on even if they are off,
    for `notifier listen --connection NAME`); ValueError with a sentence naming the ones there
    are when a name is not among them."""
    picked = [replace(named(settings, name), enabled=True) for name in dict.fromkeys(names)]
    return with_connections(settings, picked)


def named(settings: Settings, name: str) -> Connection:
    """The connection of `settings` called `name` (on or off, case aside); ValueError with a
    sentence naming the ones there are when none is."""
    every = connections_of(settings)
    found = next((c for c in every if c.name.casefold() == name.strip().casefold()), None)
    if found is None:
        raise ValueError(tr("No connection is called {name!r}; the settings have: {names}.",
                            name=name, names="、".join(c.name for c in every)))
    return found


def check(connections: Sequence[Connection]) -> None:
    """SettingsError for a list the app cannot run: names must tell the connections apart."""
    names: set[str] = set()
    ids: set[str] = set()
    for index, connection in enumerate(connections, 1):
        where = f"connections[{index}]"
        name = connection.name.strip()
        if not name:
            raise SettingsError(f"{where}.name", tr("each connection needs a name"))
        if len(name) > MAX_NAME_CHARS:
            raise SettingsError(f"{where}.name", tr("must be at most {count} characters",
                                                    count=MAX_NAME_CHARS))
        if name.casefold() in names:
            raise SettingsError(f"{where}.name", tr("another connection is already called {name!r}",
                                                    name=name))
        names.add(name.casefold())
        if not _ID.match(connection.id) or connection.id in ids:
            raise SettingsError(f"{where}.id", tr("must be a short id of lowercase letters and digits, "
                                                  "different for each connection"))
        ids.add(connection.id)
        if not _COLOR.match(connection.color):
            raise SettingsError(f"{where}.color", tr("must be a colour like #e4572e (got {value!r})",
                                                     value=connection.color))


def from_table(table: Any, index: int) -> Connection:
    """One `[[connections]]` table as a Connection; SettingsError naming what is wrong."""
    where = f"connections[{index}]"
    if not isinstance(table, Mapping):
        raise SettingsError(where, tr("must be a table of settings"))
    groups = {k: v for k, v in table.items() if k in CONNECTION_GROUPS}
    unknown = set(table) - set(groups) - {"id", "name", "color", "enabled"}
    if unknown:
        raise SettingsError(f"{where}.{sorted(unknown)[0]}", tr("is not a known setting"))
    values = flatten(groups)
    for key in values:
        if key not in _DEFAULTS:
            raise SettingsError(f"{where}.{key}", tr("is not a known setting"))
    enabled_value = table.get("enabled", True)
    if not isinstance(enabled_value, bool):
        raise SettingsError(f"{where}.enabled", tr("must be true or false (got {value!r})",
                                                   value=enabled_value))
    text = {k: table.get(k, "") for k in ("id", "name", "color")}
    for key, value in text.items():
        if not isinstance(value, str):
            raise SettingsError(f"{where}.{key}", tr("must be text (got {value!r})", value=value))
    connection = Connection(text["id"], text["name"], text["color"] or PALETTE[(index - 1) % len(PALETTE)],
                            enabled_value)
    # Every value checked on its own and with the others of this connection.
    connection.with_values(values).settings(Settings())
    return connection.with_values({**_DEFAULTS, **values})


def to_table(connection: Connection) -> dict[str, Any]:
    table: dict[str, Any] = {"id": connection.id, "name": connection.name,
                             "color": connection.color, "enabled": connection.enabled}
    for key, value in connection.values.items():
        group, name = key.split(".", 1)
        table.setdefault(group, {})[name] = value
    return table


def load_tables(tables: dict[str, Any]) -> tuple[Settings, bool]:
    """Settings from a settings file's tables, and whether the file is from before the list
    (then its one connection is now the list's first; the caller writes the file back)."""
    listed = tables.pop("connections", None)
    if listed is None:
        upgrade = any(group in tables for group in CONNECTION_GROUPS)
        settings = Settings(flatten(tables))
        if not upgrade:
            return settings, False
        return with_connections(settings, connections_of(settings)), True
    if not isinstance(listed, list) or not listed:
        raise SettingsError("connections", tr("must be a list of connection tables"))
    for group in CONNECTION_GROUPS:
        tables.pop(group, None)  # written by hand next to the list: the list wins
    connections = tuple(from_table(table, index) for index, table in enumerate(listed, 1))
    return with_connections(Settings(flatten(tables)), connections), False


def toml_tables(settings: Settings, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The settings file's tables (`tables`: the flat settings' changed values) with the list
    in place of the first connection's groups."""
    if not settings.connections and not any(group in tables for group in CONNECTION_GROUPS):
        return tables
    kept: dict[str, Any] = {group: table for group, table in tables.items()
                            if group not in CONNECTION_GROUPS}
    kept["connections"] = [to_table(c) for c in connections_of(settings)]
    return kept


class ConnectionSecrets:
    """One connection's view of the keyring: its secrets under its own names
    (`Connection.secret_name`), so two connections of one protocol never share a password."""

    def __init__(self, store: Any, connection: Connection):
        self.store = store
        self.connection = connection
        self.service = store.service

    def backend_name(self) -> str:
        return self.store.backend_name()

    def get(self, name: str):
        return self.store.get(self.connection.secret_name(name))

    def set(self, name: str, value: str):
        return self.store.set(self.connection.secret_name(name), value)

    def clear(self, name: str):
        return self.store.clear(self.connection.secret_name(name))


def connection_secret_names() -> tuple[str, ...]:
    """The secrets that belong to a connection (a password, a token), not to the whole app."""
    return tuple(spec.name for spec in SECRETS if set(spec.used_by) != set(PROTOCOLS))


class RoutedSecrets:
    """The keyring as the settings dialog's pages see it: a connection's secrets are the first
    connection's (`ConnectionSecrets`, it is the one the Connection page edits), the others
    (the phone alert targets) the app's own."""

    def __init__(self, store: Any, first: Connection):
        self.store = store
        self.service = store.service
        self.first = ConnectionSecrets(store, first)
        self._own = set(connection_secret_names())

    def _for(self, name: str):
        return self.first if name in self._own else self.store

    def backend_name(self) -> str:
        return self.store.backend_name()

    def get(self, name: str):
        return self._for(name).get(name)

    def set(self, name: str, value: str):
        return self._for(name).set(name, value)

    def clear(self, name: str):
        return self._for(name).clear(name)
