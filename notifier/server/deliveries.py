"""What both stores share about callbacks to a shop's back end: the URL rule, the body that is
signed and sent, a claimed delivery, and the retry timing.

A delivery is written by the store in the same transaction (SQLite) or script (Redis) as the
decision event it reports, so a decision answered 201 always has its callback queued. Any
process serving the store may then claim due deliveries: a claim moves the delivery's next
attempt to the end of a lease, so no other process sends it meanwhile, and a process that dies
holding a claim only delays the delivery until the lease ends (see callbacks.py).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from notifier.core.protocol import EVENT_ID_HEADER  # noqa: F401 - callers knew it from here

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 300.0
GIVE_UP_AFTER_S = 3 * 86400.0  # an event no back end took in three days is dropped, with a log
REQUEST_TIMEOUT_S = 10.0
LEASE_S = 30.0  # a claim lasts this long: longer than one request may take
BATCH = 20
CALLBACK_KINDS = ("accepted", "rejected")

# The SQLite store's table (in events.sqlite3). `claimed` is 1 while a process sends the row;
# `next_at` is then the end of its lease.
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS callback_deliveries (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    shop TEXT NOT NULL,
    url TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS callback_deliveries_due ON callback_deliveries(next_at);
"""


class CallbackError(ValueError):
    """A callback URL that cannot be used; the message is the sentence to print, `reason` what
    is wrong ("scheme", "port", "characters", "credentials", "host") for a translated one."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_callback_url(url: str) -> str:
    """The URL as it will be used, or CallbackError saying what is wrong with it.

    Checked when the URL is set (admin commands, and an older server's files on import) and
    again before each delivery: scheme, a host the resolver can take (IDNA: `shop..example`
    has an empty label, which the socket layer refuses with a UnicodeError), a numeric port,
    and no user name or password (the URL is logged; the signature is what proves the call)."""
    text = url.strip()
    shown = text if text.isprintable() and len(text) <= 300 else repr(text[:300])
    problem = CallbackError("scheme", f"the callback URL {shown} must be an http:// or https:// address")
    try:
        text.encode("utf-8")  # an undecodable argv byte cannot be written or sent
        parts = urlsplit(text)
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise CallbackError("port", f"the callback URL {shown} has a port that is not a number from 0 to 65535") from None
    if not text.isprintable() or any(c.isspace() for c in text):
        raise CallbackError("characters", f"the callback URL {shown} must not contain spaces or control characters")
    if parts.username is not None or parts.password is not None:
        raise CallbackError("credentials", "the callback URL must not contain a user name or password: it is written to "
                            "the log, and the signature is what proves a call comes from this server")
    host = parts.hostname
    if _is_numeric_host(host):
        raise CallbackError("host", f"the callback URL {shown} has no valid host name: {host!r} (write an address "
                                    "as four numbers with dots, or use a name)")
    if not _is_ip_literal(host):
        try:
            host.encode("idna")
        except UnicodeError:
            raise CallbackError("host", f"the callback URL {shown} has no valid host name: {host!r}") from None
    return text


def _is_numeric_host(host: str) -> bool:
    """An IPv4 address written another way (2130706433, 0x7f.1, 0177.0.0.1): the socket layer
    takes it for an address, the HTTP client refuses it."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return not _is_ip_literal(host)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def callback_where(url: str) -> str:
    """What log lines say about a callback URL: scheme, host and port (no path, no query)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    except ValueError:
        return "an unusable URL"


def event_id_of(identity: str, seq: int) -> str:
    """The id a decision is known by, to the PC that made it and to the back end."""
    return f"{identity}:{seq}" if identity else str(seq)


def callback_body(shop: str, event_id: str, seq: int, event: dict[str, Any]) -> bytes:
    """What the shop's back end receives (documented in docs/server.md)."""
    return json.dumps({
        "event_id": event_id, "shop": shop, "seq": seq, "kind": event["kind"],
        "order_id": event.get("order_id"), "reason": event.get("text"),
        "occurred_at": event.get("occurred_at"),
    }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_delay(attempts: int, first_retry_s: float) -> float:
    """Seconds before the next attempt, after `attempts` failed ones before this one."""
    return min(MAX_RETRY_S, first_retry_s * 2 ** min(attempts, 20))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One callback claimed for sending until `claim` (a unix time, the lease's end)."""

    shop: str
    event_id: str
    url: str
    body: bytes
    attempts: int
    created_at: float
    claim: float
