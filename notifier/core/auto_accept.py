"""Auto-accept (自动接单): which new orders this PC accepts by itself, and why it holds back.

Off by default. An order is accepted without a click only while the shop is open, while fewer
than the hourly cap were auto-accepted in the last hour, and while the printer prints: an order
accepted but never printed is worse than one that rings, so an offline printer *pauses*
auto-accepting (the orders ring as usual) until it prints again. Where tickets print as orders
arrive, the desktop also waits for each order's own ticket to be printed before accepting it
(desktop/shop_counter.py): a printer that died since its last ticket is found out by that ticket. Everything else — the outbox,
the ticket, the announcement — is the same as a click's; this module only decides.

The settings live in the connection's group (`connection.auto_accept`,
`connection.auto_accept_per_hour`): each connection carries its own, and the desktop keeps one
AutoAccept per connection (its own hourly count), asked with that connection's shop state.
No Qt here; the tests give it their own clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import tr

HOUR_S = 3600.0

# Why an order was or was not accepted by itself.
ACCEPT = "accept"
OFF = "off"
NOT_AN_ORDER = "not_an_order"
CLOSED = "closed"
UNKNOWN = "unknown"
CAPPED = "capped"
PRINTER = "printer"


@dataclass(frozen=True, slots=True)
class Verdict:
    why: str
    sentence: str = ""  # for the tray and the log when auto-accept holds back for a while

    @property
    def accept(self) -> bool:
        return self.why == ACCEPT


class AutoAccept:
    def __init__(self, settings: Mapping[str, Any], clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._accepted: deque[float] = deque()
        self.apply_settings(settings)

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        self.enabled = bool(settings["connection.auto_accept"])
        self.per_hour = int(settings["connection.auto_accept_per_hour"])
        self.needs_printer = settings["printer.print_on"] != "off"

    def decide(self, event: OrderEvent, *, shop_open: bool | None, printer_problem: str = "",
               pending: int = 0) -> Verdict:
        """Whether to accept `event` now. `shop_open`: the shop's state (None: not known);
        `printer_problem`: the printer's trouble as the tray says it ("" while it prints);
        `pending`: orders about to be accepted by themselves (they count toward the cap)."""
        if not self.enabled:
            return Verdict(OFF)
        if event.kind is not OrderKind.NEW_ORDER:
            return Verdict(NOT_AN_ORDER)
        if shop_open is None:
            return Verdict(UNKNOWN, tr("Auto-accept waits: whether the shop is open is not known yet."))
        if not shop_open:
            return Verdict(CLOSED, tr("Auto-accept is off while the shop is closed."))
        if self.needs_printer and printer_problem:
            return Verdict(PRINTER, tr("Auto-accept paused: the printer does not print ({problem}).",
                                       problem=printer_problem))
        now = self._clock()
        while self._accepted and now - self._accepted[0] >= HOUR_S:
            self._accepted.popleft()
        if self.per_hour and len(self._accepted) + pending >= self.per_hour:
            return Verdict(CAPPED, tr("Auto-accept paused: {count} orders accepted by themselves in the last hour.",
                                      count=self.per_hour))
        return Verdict(ACCEPT)

    def accepted(self) -> None:
        """An order was accepted by itself now (counts toward the hourly cap)."""
        self._accepted.append(self._clock())

    def paused_because(self, *, shop_open: bool | None, printer_problem: str = "") -> str:
        """The sentence for the tray while auto-accept is on but holds back ("" when it would
        accept the next order)."""
        probe = OrderEvent(kind=OrderKind.NEW_ORDER, order_id="-", source="-", server="-")
        verdict = self.decide(probe, shop_open=shop_open, printer_problem=printer_problem)
        return verdict.sentence
