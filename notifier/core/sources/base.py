"""What every source is: a connection to one push server, run by a `ReconnectLoop` in a thread of
its own, handing the order events it decodes to its host and publishing its connection state.

The host is the one door a source has to the rest of the app (`SourceHost`, passed in): store an
event (with its resume cursor), read or save a cursor, keep details that arrived after the order,
end an order that was decided elsewhere, list the orders still ringing. The app's host is one
`intake.ConnectionHost` per connection (the ledger first, then whoever listens): the orders a
source names are its own connection's, never another connection's with the same id; a test's
host can be ten lines.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

from notifier.core.connection import ConnState
from notifier.core.events import OrderEvent
from notifier.core.reconnect import OnReconnectLoop, ReconnectLoop, StatusCallback
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings

if TYPE_CHECKING:
    from datetime import date

    from notifier.core.action_worker import ActionSender
    from notifier.core.shop_switch import ShopSwitch
    from notifier.core.today import DayFigures

log = logging.getLogger(__name__)


class SourceHost(Protocol):
    """What a source may ask of the app. Called on the source's threads."""

    def store(self, event: OrderEvent, cursor: tuple[str, str] | None = None, *,
              durable: bool = False) -> bool:
        """Keep `event` (and the cursor `(name, value)` in the same transaction); returns only
        after it is on disk (`durable`: synced, for sources that acknowledge upstream right
        after); True when it was new."""

    def cursor(self, name: str) -> str | None:
        """The resume position last saved under `name`, if any."""

    def save_cursor(self, name: str, value: str) -> None:
        """Move a resume position past something that was handled without storing an event."""

    def details_arrived(self, event: OrderEvent) -> None:
        """An order already stored, with the details (`event.details`, amount, customer) that
        were fetched after it."""

    def end_order(self, source: str, server: str, order_id: str, how: str,
                  reason: str | None = None) -> bool:
        """This connection's order was decided or cancelled elsewhere (a ledger `Ending`);
        True if that is news."""

    def ringing(self, source: str, server: str) -> list[str]:
        """Ids of this server's orders (that came through this connection) whose alert still
        rings here."""

    def progressed(self, source: str, server: str, order_id: str, progress: str,
                   reason: str | None = None) -> bool:
        """The order went on after 接单 elsewhere (an `order_state` value: delivering, completed,
        cancelled by the shop); True if that is news."""

    def in_progress(self, source: str, server: str) -> list[tuple[str, str]]:
        """(order id, state) of this server's recent orders that were accepted and are not
        completed or cancelled yet: what a status poll follows."""


class Source(OnReconnectLoop, ABC):
    """One push server connection. Subclasses implement the loop's `Link` methods (`connect`,
    `pump`, `disconnect`, `classify`, and `interrupt` when they block on I/O)."""

    protocol: str = ""
    # 营业 / 打烊 at this back end, for sources whose back end keeps it (None: it does not).
    shop_switch: ShopSwitch | None = None

    def __init__(self, settings: Settings, host: SourceHost, on_status: StatusCallback,
                 secrets: SecretStore):
        self.settings = settings
        self.host = host
        self.secrets = secrets
        self.loop = ReconnectLoop(self, on_status, name=f"source-{self.protocol}")

    # -- for the owner (and OnReconnectLoop's start, stop, status, reconnect_now) ---------

    @property
    def connections(self) -> int:
        """Connections that came up, for tests and diagnostics."""
        return self.loop.connections

    def action_sender(self) -> ActionSender | None:
        """Who sends the shop's decisions (accept, reject) on this source's orders back to its
        back end; None when this connection has no way to (see `actions_unavailable`)."""
        return None

    def actions_unavailable(self) -> str | None:
        """Why accept / reject cannot be offered for this connection (a sentence), or None."""
        return None

    def action_capabilities(self) -> frozenset[str]:
        """Which decisions this source's sender (when it has one) takes: accept and reject, and
        of the order's life after that (`order_state.LIFE_ACTIONS`: deliver, complete, cancel)
        the ones its back end has a call for."""
        return frozenset(("accept", "reject"))

    def day_figures(self, day: date) -> DayFigures | None:
        """The back end's own figures for `day` (takings, valid orders, average, orders by
        state), or None when it has none (then they come from the ledger: core/today.py).
        Blocking: one request or two. Raises when the back end does not answer."""
        return None

    # -- for subclasses ------------------------------------------------------------------

    def server_label(self) -> str:
        """Host (and shop) shown to people: never the full URL, which may carry a token."""
        from urllib.parse import urlsplit

        url = self.settings["connection.url"]
        try:
            host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        except ValueError:
            host = ""
        return host or url[:40]

    def deliver(self, event: OrderEvent, cursor: tuple[str, str] | None = None, *,
                durable: bool = False) -> bool:
        """Hand `event` to the host; returns after it is on disk (`durable`: synced to the disk
        itself, for sources that acknowledge upstream right after)."""
        return self.host.store(event, cursor, durable=durable)

    def saved_cursor(self, name: str) -> str | None:
        """The resume position last saved with `deliver(..., cursor=(name, value))`, if any."""
        return self.host.cursor(name)

    def interrupt(self) -> None:
        """Make a pump that is blocked waiting for data return now (stop, reconnect now)."""

    @abstractmethod
    def connect(self) -> Any: ...

    @abstractmethod
    def pump(self, handle: Any) -> str: ...

    @abstractmethod
    def disconnect(self, handle: Any, clean: bool) -> None: ...

    @abstractmethod
    def classify(self, exc: BaseException) -> tuple[ConnState, str]: ...
