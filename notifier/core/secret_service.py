"""A small client for the freedesktop Secret Service (gnome-keyring, KeePassXC, KWallet 5.97+),
spoken over jeepney.

Why not keyring's own Secret Service backend: it reaches the bus through secretstorage, which
imports `cryptography` (a 6 MB Rust extension plus libcrypto) and keyring's backend discovery
reads every installed package's entry points. Together that is ~15 MB of RSS the tray app would
carry for its whole life to read one token at start-up. jeepney is already loaded for
notifications.

Items are stored exactly as keyring stores them (attributes `service`, `username` and
`application`), so `keyring get order-notifier NAME` and this client see the same secrets.

The session uses the "plain" transport algorithm. The session bus is a socket only this user can
open, and any process of this user can ask the Secret Service for the secret anyway, so an
encrypted transport would protect against nobody while costing the cryptography import.

Each call opens its own bus connection and closes it: secrets are read at connect and login only,
and an idle app keeps no socket and no state here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
SERVICE_IFACE = "org.freedesktop.Secret.Service"
COLLECTION_IFACE = "org.freedesktop.Secret.Collection"
ITEM_IFACE = "org.freedesktop.Secret.Item"
PROMPT_IFACE = "org.freedesktop.Secret.Prompt"
NONE = "/"  # D-Bus's null object path: "no prompt needed", "no such alias"
APPLICATION = "Python keyring library"  # keyring's value: items stay interchangeable with it
CALL_TIMEOUT = 10.0  # seconds for one bus call; the daemon may be starting (D-Bus activation)
PROMPT_TIMEOUT = 120.0  # seconds for the owner to answer an unlock prompt


class SecretServiceError(Exception):
    """A Secret Service call failed. Messages never contain secret values."""


class Unavailable(SecretServiceError):
    """No Secret Service on this session bus (or no session bus)."""


class NotAnswered(SecretServiceError):
    """The bus or the Secret Service did not answer in time (a machine busy enough to starve the
    daemon), or the connection broke mid-call: worth one more try, unlike the other errors."""


class Locked(SecretServiceError):
    """The collection is locked and unlocking was refused or not possible here."""


class NoKeyringYet(SecretServiceError):
    """This account has no default keyring, and creating one was dismissed or not possible here.
    Not "locked": there is nothing to unlock."""


def _address(path: str, interface: str):
    from jeepney import DBusAddress

    return DBusAddress(path, bus_name=BUS_NAME, interface=interface)


class _Session:
    """One bus connection and one plain Secret Service session on it."""

    def __init__(self, conn):
        self.conn = conn
        _output, self.path = self.call(SERVICE_PATH, SERVICE_IFACE, "OpenSession", "sv", "plain", ("s", ""))

    def call(self, path: str, interface: str, method: str, signature: str | None = None, *body,
             timeout: float | None = None):
        from jeepney import DBusErrorResponse, MessageType, new_method_call

        reply = self.conn.send_and_get_reply(
            new_method_call(_address(path, interface), method, signature, body),
            timeout=timeout or CALL_TIMEOUT,
        )
        if reply.header.message_type is MessageType.error:
            error = DBusErrorResponse(reply)
            if error.name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                              "org.freedesktop.DBus.Error.NameHasNoOwner",
                              "org.freedesktop.DBus.Error.Spawn.ChildExited",
                              "org.freedesktop.DBus.Error.Spawn.ExecFailed"):
                raise Unavailable(f"no Secret Service on the session bus ({error.name})")
            if error.name == "org.freedesktop.Secret.Error.IsLocked":
                raise Locked("the keyring is locked")
            if error.name in ("org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
                              "org.freedesktop.DBus.Error.TimedOut"):
                raise NotAnswered(f"{method} was not answered: {error.name}")
            raise SecretServiceError(f"{method} failed: {error.name}")
        return reply.body

    def prompt(self, prompt_path: str, unanswered: type[SecretServiceError] = Locked) -> tuple[bool, object]:
        """Run a prompt (the owner types the keyring password); (dismissed, result).

        The desktop shows it (gnome-keyring through gcr-prompter, KWallet its own window); with
        no one to show it to, services dismiss it at once."""
        from jeepney import MatchRule, message_bus

        rule = MatchRule(type="signal", interface=PROMPT_IFACE, member="Completed", path=prompt_path)
        # Some services send Completed to everyone rather than to us: ask the bus for it.
        self.conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT)
        with self.conn.filter(rule) as completed:
            self.call(prompt_path, PROMPT_IFACE, "Prompt", "s", "")
            try:
                message = self.conn.recv_until_filtered(completed, timeout=PROMPT_TIMEOUT)
            except TimeoutError:
                raise unanswered("the prompt was not answered") from None
        dismissed, (_signature, result) = message.body
        return bool(dismissed), result

    def unlock(self, paths: list[str]) -> None:
        _unlocked, prompt = self.call(SERVICE_PATH, SERVICE_IFACE, "Unlock", "ao", paths)
        if prompt != NONE:
            dismissed, _result = self.prompt(prompt)
            if dismissed:
                raise Locked("unlocking the keyring was dismissed")

    def search(self, attributes: dict[str, str]) -> list[str]:
        """Paths of the matching items, unlocking locked ones (which may prompt the owner)."""
        unlocked, locked = self.call(SERVICE_PATH, SERVICE_IFACE, "SearchItems", "a{ss}", attributes)
        if not unlocked and locked:
            self.unlock(list(locked))
            return list(locked)
        return list(unlocked)

    def has_default_collection(self) -> bool:
        (path,) = self.call(SERVICE_PATH, SERVICE_IFACE, "ReadAlias", "s", "default")
        return path != NONE

    def default_collection(self) -> str:
        (path,) = self.call(SERVICE_PATH, SERVICE_IFACE, "ReadAlias", "s", "default")
        if path == NONE:
            # A fresh account has no keyring yet: ask the service to make the default one. The
            # desktop then prompts the owner to choose its password (gnome-keyring's "new keyring"
            # window); that prompt is this call's to show, so it is run, not treated as "locked".
            label = {"org.freedesktop.Secret.Collection.Label": ("s", "Default keyring")}
            path, prompt = self.call(SERVICE_PATH, SERVICE_IFACE, "CreateCollection", "a{sv}s",
                                     label, "default")
            if path == NONE:
                dismissed, path = self.prompt(prompt, unanswered=NoKeyringYet)
                if dismissed or not path or path == NONE:
                    raise NoKeyringYet("creating the keyring was dismissed")
        (_signature, locked), = self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                                         COLLECTION_IFACE, "Locked")
        if locked:
            self.unlock([path])
        return path


@contextmanager
def _session() -> Iterator[_Session]:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        raise Unavailable("no session bus")
    from jeepney.io.blocking import open_dbus_connection

    try:
        # jeepney allows 1 s for the bus's authentication by default; on a loaded machine that
        # ran out, and a busy bus was then taken for "no Secret Service" (a fallback to keyring).
        conn = open_dbus_connection(bus="SESSION", auth_timeout=CALL_TIMEOUT)
    except TimeoutError:
        raise NotAnswered("the session bus did not answer") from None
    except (OSError, ValueError, KeyError) as exc:
        raise Unavailable(f"cannot open the session bus: {type(exc).__name__}") from None
    try:
        yield _Session(conn)
    except (OSError, TimeoutError) as exc:  # TimeoutError (jeepney), ConnectionResetError, ...
        raise NotAnswered(f"the Secret Service did not answer: {type(exc).__name__}") from None
    finally:
        conn.close()


def _attributes(service: str, name: str) -> dict[str, str]:
    return {"service": service, "username": name}


def get_secret(service: str, name: str) -> str | None:
    """The secret stored for (service, name), or None if there is none; NoKeyringYet when the
    account has no keyring at all (nothing can have been saved, and saving will create one)."""
    with _session() as session:
        items = session.search(_attributes(service, name))
        if not items:
            if not session.has_default_collection():
                raise NoKeyringYet("this account has no keyring yet")
            return None
        (secrets,) = session.call(SERVICE_PATH, SERVICE_IFACE, "GetSecrets", "aoo", items[:1], session.path)
        if not secrets:
            return None
        _session_path, _parameters, value, _content_type = secrets[items[0]]
        return bytes(value).decode("utf-8")


def set_secret(service: str, name: str, value: str) -> None:
    """Store (or replace) the secret for (service, name) in the default keyring."""
    with _session() as session:
        collection = session.default_collection()
        attributes = {**_attributes(service, name), "application": APPLICATION}
        properties = {
            "org.freedesktop.Secret.Item.Label": ("s", f"Password for '{name}' on '{service}'"),
            "org.freedesktop.Secret.Item.Attributes": ("a{ss}", attributes),
        }
        secret = (session.path, b"", value.encode("utf-8"), "text/plain; charset=utf8")
        _item, prompt = session.call(collection, COLLECTION_IFACE, "CreateItem", "a{sv}(oayays)b",
                                     properties, secret, True)
        if prompt != NONE:
            dismissed, _result = session.prompt(prompt)
            if dismissed:
                raise Locked("saving in the keyring was dismissed")


def delete_secret(service: str, name: str) -> bool:
    """Delete the secret for (service, name); False if there was none."""
    with _session() as session:
        items = session.search(_attributes(service, name))
        for item in items:
            (prompt,) = session.call(item, ITEM_IFACE, "Delete")
            if prompt != NONE:
                dismissed, _result = session.prompt(prompt)
                if dismissed:
                    raise Locked("deleting from the keyring was dismissed")
        return bool(items)


def available() -> bool:
    """Whether a Secret Service runs on (or can be started by) the session bus."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    from jeepney import message_bus
    from jeepney.io.blocking import open_dbus_connection

    try:
        with open_dbus_connection(bus="SESSION", auth_timeout=CALL_TIMEOUT) as conn:
            (owned,) = conn.send_and_get_reply(message_bus.NameHasOwner(BUS_NAME), timeout=CALL_TIMEOUT).body
            if owned:
                return True
            (names,) = conn.send_and_get_reply(message_bus.ListActivatableNames(), timeout=CALL_TIMEOUT).body
            return BUS_NAME in names
    except (OSError, ValueError, KeyError):
        return False
