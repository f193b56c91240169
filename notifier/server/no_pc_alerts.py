"""Telling a shop's owner when orders arrive and no PC of the shop is there to hear them.

A shop may have an alert target (`notifier server set-alert SHOP`, an Apprise URL as the PC's
escalation uses: core.phone_targets; kept as no_pc_state.py says). For such a shop:

- an order stored while no stream of the shop is open waits here; if no PC has been connected
  for `absent_after_s` (the stream's last close, or the server's start), the shop is *in an
  outage* and one alert goes out naming the shop, the orders (the first ten, then how many
  more) and how long no PC has been there. Orders that arrive while the alert is on its way or
  after it are counted, not sent again: one message per outage. If a PC connects first, the
  orders reach it by its replay and nobody is bothered.
- when a PC of the shop connects after an alert was sent, one "back" message says how long
  no PC was there and how many orders arrived meanwhile.
- a shop that is open (营业中, shop_state.py) and has had no PC for `open_after_s` is in an outage
  too, orders or not: one alert says the shop is open and how long no PC has been there, before
  the lunch orders are lost. Whichever comes first, an order or the open shop's absence, starts
  the outage and sends its one alert; the other only adds to it. The absence counts from the
  stream's last close, the server's start, or the moment this server saw the shop open,
  whichever is latest. A closed shop (打烊) is never alerted for having no PC (its orders still
  are, as above: the platform sends orders to a closed shop only by mistake, and someone should
  know). A shop that closes while its outage has not been alerted ends the outage silently; one
  whose alert went out keeps it, and the owner who was told "no PC" still hears when one is back.
- two alerts of one shop are at least `gap_s` apart (a PC that comes and goes does not ring the
  phone each time): an outage that begins sooner is alerted when the gap is over, with every
  order since.

The shops' states are read with one store call for the shops that have a target, every
`targets_every_s` (a state changed by a PC counts that much later: seconds, against an
`open_after_s` of minutes); a tick looks only at the shops with a target, so shops without one
cost it nothing.

Nothing here is on the ingest path but `order_stored`, which only appends to a bounded list in
memory; the decisions run in one loop task every `tick_s`, and the sending runs on
core.phone_sender's threads (one per target with messages on their way, each retrying with
backoff on its own, giving up after an hour), so a target that hangs or fails costs only the
shops that use it, never ingest, streams or another shop. Each shop holds at most `LISTED`
orders here, whatever the burst.

On a shared store (Redis, several gateways) one gateway at a time decides and sends, holding a
lease; the others hand it the orders they took in and tell it which shops have streams with them
(no_pc_state.py). A gateway that dies with the lease leaves it to another when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifier.core import escalation_wording as words
from notifier.core import phone_targets, protocol
from notifier.core.connection import Backoff
from notifier.core.events import OrderEvent
from notifier.core.phone_sender import PhoneSender
from notifier.server import shop_state
from notifier.server.hub import Hub
from notifier.server.log_limits import LimitedLog
from notifier.server.no_pc_state import LocalAlertState, RedisAlertState
from notifier.server.store_calls import StoreCalls
from notifier.server.supervision import Supervised

log = logging.getLogger(__name__)

LISTED = words.LISTED_ORDERS  # orders kept per shop for the message; the rest are counted
DECIDE_SLICE = 25  # shops decided (and alerts worded) between two turns of the event loop
# (shop, orders, the first LISTED of them) as one gateway took them in during one tick
Noted = tuple[str, int, list[dict[str, Any]]]
TARGETS_EVERY_S = 5.0  # how often the targets are read again (set-alert from another process)
SENDER_IDLE_S = 60.0  # a target's sending thread ends after this long with nothing to send
# Alerts being sent at once, all shops together: enough that a few hanging targets (each held
# until its timeout, core.phone_targets.TIMEOUT_S) leave room for the others, few enough that a
# thousand shops alerting at once do not take the interpreter from the event loop (ingest).
MAX_SENDING = 16


@dataclass(slots=True)
class _Shop:
    """One shop's orders nobody heard, and its outage (the shop is forgotten when both are empty)."""

    count: int = 0  # orders waiting to see whether a PC comes in time
    listed: list[dict[str, Any]] = field(default_factory=list)
    since: float | None = None  # in an outage: no PC since then
    outage_orders: int = 0
    alerted_at: float | None = None  # the outage's alert was queued then
    last_alert: float = 0.0

    def note(self, count: int, listed: list[dict[str, Any]]) -> None:
        self.count += count
        self.listed.extend(listed[:LISTED - len(self.listed)])

    def saved(self) -> dict[str, Any] | None:
        if self.since is None:
            return None
        return {"since": self.since, "orders": self.outage_orders, "alerted_at": self.alerted_at,
                "last_alert": self.last_alert}


def _order(shop: str, note: dict[str, Any]) -> OrderEvent | None:
    """A stored order (as `order_stored` noted it) as core's OrderEvent, for the wording."""
    try:
        when = datetime.fromtimestamp(note["at"], UTC).isoformat()
        return protocol.event_from_frame({"seq": note["seq"], "event": note["event"], "received_at": when},
                                         server=shop)
    except (ValueError, KeyError, TypeError):
        return None


class NoPcAlerts:
    def __init__(self, state: LocalAlertState | RedisAlertState, hub: Hub, calls: StoreCalls, *,
                 absent_after_s: float, gap_s: float, language: str, open_after_s: float = 0.0,
                 statuses: Callable[[list[str]], dict[str, str]] | None = None, tick_s: float = 1.0,
                 lease_s: float = 30.0, retry_s: float = 5.0, targets_every_s: float = TARGETS_EVERY_S,
                 send: Callable[..., phone_targets.Delivery] = phone_targets.send,
                 clock: Callable[[], float] = time.time):
        self.state, self.hub, self.calls = state, hub, calls
        self.absent_after_s, self.gap_s, self.language = absent_after_s, gap_s, language
        # 0 (or no way to read the shops' states): an open shop with no PC is not alerted by itself.
        self.open_after_s = open_after_s if statuses is not None else 0.0
        self._statuses = statuses
        self.tick_s, self.lease_s, self.targets_every_s = tick_s, lease_s, targets_every_s
        self.shared = state.shared
        # On a shared store: each gateway says which shops it has streams of this often, and a
        # shop counts as present while the last such word is at most three times that old.
        self.presence_every_s = max(0.05, min(5.0, absent_after_s / 4, (self.open_after_s or absent_after_s) / 4))
        self._retry_s, self._send = retry_s, send
        self._clock = clock
        self._gateway = secrets.token_hex(8)
        self._started = clock()
        self._targets: dict[str, str] = {}
        self._targets_at = -1e18
        self._warmed = False
        self._presence_at = -1e18
        self._statuses_at = -1e18
        self._open: set[str] = set()  # shops with a target that were open at the last reading
        self._closed: set[str] = set()  # ... and those that were closed
        self._opened_at: dict[str, float] = {}  # when this server saw a closed shop open
        # Orders taken in here since the last tick: per shop, the first LISTED and how many.
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[str, int] = {}
        self._shops: dict[str, _Shop] = {}
        self._leading = not self.shared
        self._log = LimitedLog(log)
        self._wake = asyncio.Event()
        self.sender: PhoneSender | None = None
        self.alerts_sent = 0  # alerts and "back" messages queued, for tests and /healthz
        self.ticks = 0  # decision rounds finished (or failed), for tests

    # -- the ingest path -------------------------------------------------------------------

    def order_stored(self, shop: str, seq: int, received_at: float, event: dict[str, Any]) -> None:
        """A new order was stored (on the event loop, right after its 201): noted here only if
        the shop has an alert target and no stream on this gateway. O(1), no I/O."""
        if event.get("kind") != "new_order" or shop not in self._targets or self.hub.has_subscribers(shop):
            return
        self._counts[shop] = self._counts.get(shop, 0) + 1
        listed = self._notes.setdefault(shop, [])
        if len(listed) < LISTED:  # bounded whatever the flood: the rest are counted
            listed.append({"seq": seq, "at": received_at, "event": event})

    def watching(self, shop: str) -> bool:
        """Whether the shop's orders are watched (it had an alert target at the last reading)."""
        return shop in self._targets

    def counts_as_open(self, shop: str) -> bool:
        """Whether the shop was watched and open at the last reading of the shops' states."""
        return shop in self._open

    # -- the loop --------------------------------------------------------------------------

    async def run_with(self, _app) -> Any:
        """For `app.cleanup_ctx`: decide and send while the app runs."""
        self.sender = PhoneSender(lambda: ([], None), send=self._send, idle_exit_s=SENDER_IDLE_S,
                                  max_sending=MAX_SENDING,
                                  backoff=lambda: Backoff(self._retry_s, 60 * self._retry_s))
        loops = Supervised()
        loops.start("no-PC alerts", self.run)
        yield
        await loops.stop()
        if self.shared and self._leading:
            with contextlib.suppress(Exception):
                await self.calls(self.state.resign, self._gateway)
        await asyncio.to_thread(self.sender.stop)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - the store away for a moment: next tick
                self._log.warning("tick", "no-PC alerts: %s", f"{type(exc).__name__}: {exc}")
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_s)
            self._wake.clear()

    async def tick(self) -> None:
        now = self._clock()
        if now - self._targets_at >= self.targets_every_s:
            self._targets = await self.calls(self.state.targets)
            self._targets_at = now
            if self._targets and not self._warmed:
                # Apprise takes a second or more to import: done now, off the loop, so the
                # first alert does not wait for it.
                self._warmed = True
                first = phone_targets.split_targets(next(iter(self._targets.values())))
                asyncio.get_running_loop().run_in_executor(None, phone_targets.check, first[0] if first else "")
            for shop in [s for s in self._shops if s not in self._targets]:
                del self._shops[shop]  # its target was cleared
        notes = [(shop, self._counts[shop], listed) for shop, listed in self._notes.items()]
        self._notes, self._counts = {}, {}
        if self.shared:
            notes = await self._share(notes, now)
            if not self._leading:
                return
        if self.open_after_s and now - self._statuses_at >= self.targets_every_s:
            await self._read_statuses(now)
        for shop, count, listed in notes:
            if shop in self._targets:
                self._shops.setdefault(shop, _Shop()).note(count, listed)
        shops = list(self._shops) + [s for s in self._open if s not in self._shops and s in self._targets]
        seen = await self._last_seen(now, shops)
        changed = {}
        for n, shop in enumerate(shops):
            if n and n % DECIDE_SLICE == 0:
                await asyncio.sleep(0)  # requests go in between: a thousand alerts take ~100 ms to word
            state = self._shops.get(shop)
            if state is None:
                if shop not in self._open or not self._open_without_pc(shop, now, seen.get(shop, 0.0)):
                    continue
                state = self._shops[shop] = _Shop()  # its outage begins in _decide
            changed[shop] = self._decide(shop, state, now, seen.get(shop, 0.0))
        if self.shared:
            changed = {shop: state for shop, (moved, state) in changed.items() if moved}
            if changed:
                await self.calls(self.state.save_outages, changed)

    async def _share(self, notes: list[Noted], now: float) -> list[Noted]:
        """A shared store: say which shops have streams here, take or keep the lease, and bring
        every gateway's notes to the leader. Returns the notes the leader works on."""
        if now - self._presence_at >= self.presence_every_s:
            here = [shop for shop in self._targets if self.hub.has_subscribers(shop)]
            await self.calls(self.state.saw, here, now)
            self._presence_at = now
        leading = await self.calls(self.state.lead, self._gateway, self.lease_s)
        if leading and not self._leading:
            self._shops = {shop: _Shop(since=o["since"], outage_orders=o["orders"], alerted_at=o["alerted_at"],
                                       last_alert=o.get("last_alert", 0.0))
                           for shop, o in (await self.calls(self.state.load_outages)).items()}
            self._statuses_at = -1e18  # the shops' states as they are now, not as last led
            log.info("this gateway sends the no-PC alerts now")
        self._leading = leading
        if not leading:
            self._shops.clear()
            await self.calls(self.state.push_notes,
                             [{"shop": shop, "count": count, "listed": listed} for shop, count, listed in notes])
            return []
        taken = await self.calls(self.state.take_notes)
        return notes + [(note["shop"], note["count"], note["listed"]) for note in taken]

    async def _read_statuses(self, now: float) -> None:
        """Which shops with a target are open, as the store says (one call for all of them)."""
        assert self._statuses is not None
        statuses = await self.calls(self._statuses, list(self._targets))
        opened = {shop for shop, status in statuses.items() if status == shop_state.OPEN}
        for shop in opened & self._closed:
            self._opened_at[shop] = now  # seen closed, now open: its absence counts from here
        self._open, self._closed = opened, set(statuses) - opened
        self._opened_at = {shop: at for shop, at in self._opened_at.items() if shop in opened}
        self._statuses_at = now

    def _open_without_pc(self, shop: str, now: float, seen: float) -> bool:
        """Whether an open shop has had no PC for `open_after_s` (it has no outage yet)."""
        return now - self._open_since(shop, seen) >= self.open_after_s

    def _open_since(self, shop: str, seen: float) -> float:
        return max(seen, self._started, self._opened_at.get(shop, 0.0))

    async def _last_seen(self, now: float, shops: list[str]) -> dict[str, float]:
        """When a PC of each of `shops` was last connected (0: not since the start)."""
        seen = {shop: float(left) for shop in shops if (left := self.hub.left_at(shop))}
        if self.shared:
            for shop, at in (await self.calls(self.state.last_seen, shops)).items():
                seen[shop] = max(seen.get(shop, 0.0), at)
        for shop in shops:
            if self.hub.has_subscribers(shop):
                seen[shop] = now
        return seen

    def _decide(self, shop: str, state: _Shop, now: float, seen: float) -> tuple[bool, dict[str, Any] | None]:
        """One shop's step; (whether its saved outage changed, the outage to save)."""
        before = state.saved()
        fresh = 3 * self.presence_every_s if self.shared else 0.0
        if seen >= now - fresh:  # a PC is connected
            if state.alerted_at is not None:
                self._queue(shop, words.no_pc_back_message(now - (state.since or now), state.outage_orders + state.count,
                                                           shop, self.language))
            last = state.last_alert
            state.count, state.listed, state.since, state.outage_orders, state.alerted_at = 0, [], None, 0, None
            if not last or now - last >= self.gap_s:
                del self._shops[shop]
            else:
                state.last_alert = last  # kept for the gap
            return before is not None, None
        since = max(seen, self._started)
        is_open = bool(self.open_after_s) and shop in self._open
        if state.since is None:
            if state.count and now - since >= self.absent_after_s:
                state.since = since
            elif is_open and self._open_without_pc(shop, now, seen):
                state.since = self._open_since(shop, seen)
        elif not is_open and state.alerted_at is None and not state.outage_orders and not state.count:
            state.since = None  # closed before anyone was told of the absence: nothing to tell
        if state.since is not None:
            state.outage_orders += state.count
            listed, state.count = state.listed, 0
            if state.alerted_at is None and (state.outage_orders or is_open) and now - state.last_alert >= self.gap_s:
                if state.outage_orders:
                    orders = [event for note in listed if (event := _order(shop, note)) is not None]
                    message = words.no_pc_message(orders, state.outage_orders, now - state.since, shop, self.language)
                else:
                    message = words.no_pc_open_message(now - state.since, shop, self.language)
                self._queue(shop, message)
                state.alerted_at = state.last_alert = now
            if state.alerted_at is None:
                state.listed = listed  # not told yet: kept for the alert after the gap
            else:
                state.listed = []
        if state.since is None and not state.count and not state.listed and now - state.last_alert >= self.gap_s:
            del self._shops[shop]
        after = state.saved()
        return after != before, after

    def _queue(self, shop: str, message: words.PhoneMessage) -> None:
        target = self._targets.get(shop)
        if target is None or self.sender is None:
            return
        urls = phone_targets.split_targets(target)
        log.info("no-PC alert for %s to %s: %s", shop, ", ".join(phone_targets.describe(u) for u in urls),
                 message.title[:200])
        self.sender.put(message, urls)
        self.alerts_sent += 1
