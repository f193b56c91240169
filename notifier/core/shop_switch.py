"""营业 / 打烊 as this PC knows it, and the one way to change it at the shop's back end.

A source whose back end keeps the shop's open / closed state (the reference server, sky-take-out's
admin API) owns one `ShopSwitch`: it tells the switch what it learns (`seen`: the reference
server's hello and its `shop_opened` / `shop_closed` events, sky-take-out's status poll) and gives
it the function that sends a change (on the source's own back-end client). Whoever shows the state
(the tray) listens with `on_change`; whoever changes it (a click, the opening hours) calls
`request` from a thread of its own, because it waits for the back end's answer.

`request` raises `ShopChangeFailed` with a sentence for the owner: the back end refused, or could
not be reached. Nothing is queued for later: a shop that should open now and opens in an hour
would be worse than being told it did not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from notifier.core.i18n import tr

log = logging.getLogger(__name__)

ShopObserver = Callable[["bool | None"], None]


@dataclass(frozen=True, slots=True)
class ShopState:
    """One connection's 营业 / 打烊 as the tray shows it: its id, its name, and whether its back
    end says the shop is open (None: not known yet)."""

    connection_id: str
    name: str
    is_open: bool | None


class ShopChangeFailed(Exception):
    """Opening or closing the shop did not happen; `str(exc)` is the sentence for the owner."""


class ShopSwitch:
    def __init__(self, send: Callable[[bool], None], label: str):
        """`send(is_open)` changes the state at the back end; it raises ShopChangeFailed with a
        sentence, or returns once the back end took it."""
        self._send = send
        self.label = label
        self._lock = threading.Lock()
        self._state: bool | None = None
        self._observers: list[ShopObserver] = []

    @property
    def is_open(self) -> bool | None:
        """True open (营业中), False closed (打烊), None not known yet."""
        return self._state

    def on_change(self, observer: ShopObserver) -> None:
        """Called (on the thread that learnt it) with the new state whenever it changes."""
        self._observers.append(observer)

    def seen(self, is_open: bool | None) -> None:
        """The back end says the shop is open / closed (None: it does not say)."""
        with self._lock:
            if is_open == self._state:
                return
            self._state = is_open
        log.info("shop state on %s: %s", self.label,
                 "unknown" if is_open is None else ("open" if is_open else "closed"))
        for observer in list(self._observers):
            try:
                observer(is_open)
            except Exception:  # noqa: BLE001 - one listener's bug must not stop the source
                log.exception("a shop state listener failed")

    def request(self, is_open: bool) -> None:
        """Open or close the shop at the back end (blocks until it answered); ShopChangeFailed."""
        try:
            self._send(is_open)
        except ShopChangeFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - a sentence for the owner, the details in the log
            log.warning("could not %s the shop on %s: %s", "open" if is_open else "close", self.label, exc)
            raise ShopChangeFailed(tr("The shop's system could not be reached; try again in a moment.")) from None
        log.info("shop %s on %s from this PC", "opened" if is_open else "closed", self.label)
        self.seen(is_open)
