"""The project's own protocol: a shop's event stream on an Order Notifier reference server.

Connects to `{url}/api/v1/shops/{shop}/stream?after=<cursor>` with the shop's client token
(keyring secret `notifier_token`) as a bearer token. Every event frame carries its sequence
number; the cursor is saved in the ledger in the same transaction as the event, so after any
crash or disconnect the server resends exactly what is not on disk yet.

The cursor is saved as `<store>:<seq>`: the server's `store` identity (from its hello) with the
sequence number, because a sequence number means nothing in another store. The identity is sent
back on reconnect (`&store=`), and a server whose store changed (replaced, or the shop removed
and created again) replays from its first event; a server that does not do that is noticed in
its hello, and the client reconnects from 0 itself. Either way nothing is skipped silently.

A PC of the shop that accepts or rejects an order posts it to the server
(`NotifierStreamActions`), which logs it as an `accepted` / `rejected` event of the shop: every
client then ends that order's alert ("accepted elsewhere"), also one that was offline, on resume.
The PC that decided already ended it as "accepted here", which the event does not overwrite.

营业 / 打烊 travel the same way: a PC opens or closes the shop with a POST (`shop_switch`), the
server logs a `shop_opened` / `shop_closed` event that every PC's stream carries, and the hello
says the state a PC starts from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import quote

from notifier.core import protocol
from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.i18n import tr
from notifier.core.protocol import SHOP_STATE_KINDS, SchemaError
from notifier.core.shop_switch import ShopChangeFailed, ShopSwitch
from notifier.core.sources.decoding import NotAnOrder, parse_json_object
from notifier.core.sources.websocket_base import WebSocketSource

log = logging.getLogger(__name__)

TOKEN_SECRET = "notifier_token"


class NotifierStreamSource(WebSocketSource):
    protocol = protocol.PROTOCOL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shop: str = self.settings["connection.shop"].strip()
        self.cursor_name = f"notifier|{self._host()}|{self.shop}"
        self._cursor = 0  # last seq on disk, as far as this connection knows
        self._store = ""  # the store identity that cursor belongs to ("" when unknown)
        self._start_over = False  # the store changed under a server that did not reset: replay all
        self._ignoring = False  # frames of this connection are not trusted (see _on_hello)
        self.history_gap: str | None = None  # detail of the last gap the server reported
        self.frames = 0
        self.shop_switch = ShopSwitch(self._send_shop_state, self.server_label())

    def _host(self) -> str:
        return super().server_label()

    def server_label(self) -> str:
        shop = self.settings["connection.shop"].strip()
        host = self._host()
        return f"{host}/{shop}" if shop else host

    # -- connection ----------------------------------------------------------------------

    def close_code_state(self, code: int) -> ConnState | None:
        # The reference server ends a stream whose token was rotated (4001) or whose shop was
        # removed or re-created (4004): the token this PC has will be refused from now on, so
        # that is what the owner should read at once, not "closed by the server" first. 4029:
        # the shop has as many streams open there as it allows; retried slowly, with that sentence.
        if code == protocol.CLOSE_TOO_MANY_STREAMS:
            return ConnState.LIMITED
        return ConnState.UNAUTHORIZED if code in (protocol.CLOSE_TOKEN_REVOKED, protocol.CLOSE_SHOP_GONE) else None

    def build_url(self) -> str:
        if not self.shop:
            raise ValueError(tr("no shop name is set"))
        if not protocol.valid_shop_name(self.shop):
            raise ValueError(tr("the shop name {shop!r} is not valid", shop=self.shop))
        # A gap is reported for the connection it happened on; the next one resumes after it.
        self.history_gap = None
        self._ignoring = False
        self._store, self._cursor = parse_cursor(self.saved_cursor(self.cursor_name))
        base = self.settings["connection.url"].rstrip("/")
        url = f"{base}{protocol.API_PREFIX}/{quote(self.shop, safe='')}/stream"
        if self._start_over:
            self._start_over = False
            self._store, self._cursor = "", 0
            return f"{url}?after=0"
        if self._store:
            return f"{url}?after={self._cursor}&store={quote(self._store, safe='')}"
        return f"{url}?after={self._cursor}"

    def headers(self) -> list[str]:
        token, problem = self.secrets.get(TOKEN_SECRET)
        if not token:
            # Connecting without it would only earn a 401 and the wrong sentence ("wrong token").
            raise ValueError(problem.sentence() if problem else tr("no shop token is saved"))
        return [f"Authorization: Bearer {token}"]

    def connected_status(self) -> ConnectionStatus:
        if self.history_gap:
            return ConnectionStatus(ConnState.HISTORY_GAP, self.server_label(), self.history_gap)
        return super().connected_status()

    # -- frames --------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        self.frames += 1
        try:
            frame = parse_json_object(text)
        except NotAnOrder as skip:
            self.skipped(str(skip), text)
            return
        kind = frame.get("type")
        if kind == "event":
            self._on_event(frame, text)
        elif kind == "hello":
            self._on_hello(frame)
        elif kind == "history_gap":
            self._on_gap(frame)
        else:
            self.skipped("unknown frame type", text)

    def _on_hello(self, frame: dict) -> None:
        store = frame.get("store")
        store = store if isinstance(store, str) and 0 < len(store) <= 64 and store.isascii() else ""
        if frame.get("reset"):
            # The server no longer has the store our cursor points into (rebuilt or replaced):
            # it replays from its beginning and the ledger drops whatever we already have.
            log.warning("%s no longer knows position %d; starting over from its first event",
                        self.server_label(), self._cursor)
            self._cursor = 0
        elif self._store and store and store != self._store and self._cursor:
            # Another store, but the server resumes after our old position anyway: what lies
            # before it in the new store would be skipped without a word. Reconnect from 0.
            log.warning("%s has another store than position %d was in (%s, was %s); "
                        "reading it again from its first event", self.server_label(), self._cursor,
                        store, self._store)
            self._ignoring = True
            self._start_over = True
            self.loop.reconnect_now()
            return
        if store:
            self._store = store
        status = frame.get("shop_status")
        if status in ("open", "closed"):
            self.shop_switch.seen(status == "open")

    def _on_gap(self, frame: dict) -> None:
        after, oldest = frame.get("requested_after"), frame.get("oldest_seq")
        if isinstance(after, int) and isinstance(oldest, int):
            detail = f"events {after + 1}-{oldest - 1} expired on the server before they were received"
        else:
            detail = "some events expired on the server before they were received"
        log.warning("history gap on %s: %s", self.server_label(), detail)
        self.history_gap = detail
        self.publish(ConnectionStatus(ConnState.HISTORY_GAP, self.server_label(), detail))

    def _on_event(self, frame: dict, text: str) -> None:
        if self._ignoring:
            return
        body = frame.get("event")
        kind = body.get("kind") if isinstance(body, dict) else None
        if isinstance(kind, str) and kind in protocol.DECISION_KINDS:  # (a frozenset: str only)
            self._on_decision(frame, text)
            return
        if isinstance(body, dict) and isinstance(body.get("kind"), str) and body["kind"] in SHOP_STATE_KINDS:
            self._on_shop_state(frame, body, text)
            return
        try:
            event = protocol.event_from_frame(frame, server=self.server_label(), raw=text)
        except (ValueError, SchemaError) as skip:
            # Not advancing the cursor is harmless: the next good event moves it past this one.
            self.skipped(f"bad event frame: {skip}", text)
            return
        seq = frame["seq"]
        if seq <= self._cursor:
            return  # already on disk (a resend after a reconnect)
        self.deliver(event, cursor=(self.cursor_name, format_cursor(self._store, seq)))
        self._cursor = seq


    def _on_decision(self, frame: dict, text: str) -> None:
        """An order of the shop was accepted or rejected (its alert ends), or went on after that
        (派送, 完成, 取消 by the shop: its state moves), here or on another PC."""
        try:
            decision = protocol.decision_from_frame(frame)
        except ValueError as skip:
            self.skipped(f"bad decision frame: {skip}", text)
            return
        seq, order_id = decision.seq, decision.order_id
        if seq <= self._cursor:
            return
        assert order_id is not None  # decision_from_frame: an order's decision names its order
        reason = decision.reason
        if decision.kind in ENDINGS:
            self.host.end_order(self.protocol, self.server_label(), order_id, ENDINGS[decision.kind], reason)
        elif decision.kind in PROGRESS:
            self.host.progressed(self.protocol, self.server_label(), order_id,
                                 PROGRESS[decision.kind], reason)
        # The ending is on disk first: a crash before the cursor only means hearing it again.
        self.host.save_cursor(self.cursor_name, format_cursor(self._store, seq))
        self._cursor = seq

    def _on_shop_state(self, frame: dict, body: dict, text: str) -> None:
        """A PC of the shop (this one or another) opened or closed it."""
        seq = frame.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            self.skipped("bad shop state frame", text)
            return
        if seq <= self._cursor:
            return
        self.shop_switch.seen(body["kind"] == protocol.SHOP_ACTIONS["open"])
        self.host.save_cursor(self.cursor_name, format_cursor(self._store, seq))
        self._cursor = seq

    def _send_shop_state(self, is_open: bool) -> None:
        """The shop switch's sender: `POST …/open` or `…/close` with the shop's client token."""
        token, problem = self.secrets.get(TOKEN_SECRET)
        if not token:
            raise ShopChangeFailed(problem.sentence() if problem else tr("no shop token is saved"))
        try:
            protocol.set_shop_open(self.settings["connection.url"], self.shop, token, is_open,
                                   timeout=ACTION_TIMEOUT_S)
        except protocol.PublishError as exc:
            if exc.status == 0 or exc.status >= 500:
                raise  # the switch says it could not be reached
            message = exc.answer.get("message")
            raise ShopChangeFailed(tr("The server refused it: {message}",
                                      message=message if isinstance(message, str) else f"HTTP {exc.status}")) from None

    def action_sender(self) -> NotifierStreamActions:
        return NotifierStreamActions(self.settings, self.secrets, self.server_label())

    def action_capabilities(self) -> frozenset[str]:
        return frozenset(protocol.ORDER_ACTIONS)

    def day_figures(self, day):
        """The server's /today figures for `day` (it computes them from the shop's log)."""
        from notifier.core.today import DayFigures

        token, problem = self.secrets.get(TOKEN_SECRET)
        if not token:
            return None
        try:
            answer = protocol.today_figures(self.settings["connection.url"], self.shop, token,
                                            date=day.isoformat(), timeout=ACTION_TIMEOUT_S)
        except protocol.PublishError as exc:
            raise OSError(str(exc)) from None
        by_state: dict[str, int] = {}
        for state, count in (answer.get("by_state") or {}).items():
            ours = SERVER_STATES.get(state)
            if ours and isinstance(count, int):
                by_state[ours] = by_state.get(ours, 0) + count
        return DayFigures(day, int(answer.get("orders") or 0), int(answer.get("valid_orders") or 0),
                          Decimal(str(answer.get("takings") or "0")),
                          Decimal(str(answer["average_order"])) if answer.get("average_order") else None,
                          by_state, True)


# What a decision event of the stream means here: an ending of the order's alert (接单 / 拒单) or
# how far it got after that (派送 / 完成 / 取消 by the shop, an order_state value).
ENDINGS = {"accepted": "accepted_elsewhere", "rejected": "rejected_elsewhere"}
PROGRESS = {"out_for_delivery": "delivering", "completed": "completed", "cancelled_by_shop": "cancelled"}
# The server's order states (its /today `by_state`) as ours (order_state).
SERVER_STATES = {"open": "waiting", "accepted": "accepted", "out_for_delivery": "delivering",
                 "completed": "completed", "rejected": "cancelled", "cancelled": "cancelled",
                 "cancelled_by_shop": "cancelled"}
ACTION_TIMEOUT_S = 10.0
# A 409 from the reference server names what the order became (its `outcome`): the sentence the
# PC shows instead of its own decision.
DECIDED_ELSEWHERE = {
    "accepted": lambda: tr("Already accepted on another PC."),
    "rejected": lambda: tr("Already rejected on another PC."),
    "cancelled": lambda: tr("Cancelled by the customer."),
}
# ... and after 接单 (the outcome names the state the order is in: action_worker.OUTCOME_PROGRESS).
ALREADY = {
    "out_for_delivery": ("delivering", lambda order: tr("Order {order} is already out for delivery.", order=order)),
    "completed": ("completed", lambda order: tr("Order {order} was already completed.", order=order)),
    "cancelled_by_shop": ("cancelled_by_shop", lambda order: tr("Order {order} was already cancelled by the shop.", order=order)),
    "open": (None, lambda order: tr("Order {order} is not accepted yet: accept it first.", order=order)),
}


class NotifierStreamActions:
    """Posts accept / reject to the reference server with the shop's client token (the sender
    for action_worker.ActionWorker). The outbox key goes along as the Idempotency-Key, so a
    request sent again after a lost answer is logged once."""

    def __init__(self, settings, secrets, label: str):
        self.settings = settings
        self.secrets = secrets
        self._label = label
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def label(self) -> str:
        return self._label

    def close(self) -> None:
        pass

    def send(self, action) -> None:
        from notifier.core.action_worker import ActionRefused

        token, problem = self.secrets.get(TOKEN_SECRET)
        if not token:
            raise ValueError(problem.sentence() if problem else tr("no shop token is saved"))
        shop = self.settings["connection.shop"].strip()
        url = (f"{protocol.http_base(self.settings['connection.url'])}{protocol.API_PREFIX}/"
               f"{quote(shop, safe='')}/orders/{quote(action.order_id, safe='')}/{action.action}")
        body = json.dumps({"reason": action.reason} if action.reason else {}).encode("utf-8")
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {token}")
        key = action.key if action.key.isascii() and len(action.key) <= 200 else \
            hashlib.sha256(action.key.encode("utf-8")).hexdigest()
        request.add_header(protocol.IDEMPOTENCY_HEADER, key.replace(" ", "_"))
        try:
            with self._opener.open(request, timeout=ACTION_TIMEOUT_S) as response:
                response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (401, 408, 429):
                raise OSError(f"the server answered {exc.code}") from None  # retried
            try:
                answer = json.loads(exc.read(64 * 1024))
            except ValueError:
                answer = None
            answer = answer if isinstance(answer, dict) else {}
            outcome = answer.get("outcome") if exc.code == 409 else None
            if outcome in ALREADY and action.action not in ("accept", "reject"):
                progress, sentence = ALREADY[outcome]
                raise ActionRefused(sentence(action.number or action.order_id), outcome=progress) from None
            if outcome in DECIDED_ELSEWHERE:
                # Another PC decided first, or the customer cancelled: the order's true outcome.
                raise ActionRefused(DECIDED_ELSEWHERE[outcome](), outcome=outcome) from None
            message = answer.get("message") if isinstance(answer.get("message"), str) else None
            raise ActionRefused(tr("The server refused it: {message}",
                                   message=message or f"HTTP {exc.code}")) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            raise reason if isinstance(reason, OSError) else OSError(str(reason)) from None


def parse_cursor(saved: str | None) -> tuple[str, int]:
    """(store identity, seq) from a saved cursor: `<store>:<seq>`, or a bare `<seq>` saved by
    earlier versions (store unknown)."""
    if not saved:
        return "", 0
    store, _, seq = saved.rpartition(":")
    if not (seq.isascii() and seq.isdigit()):
        return "", 0
    return store, int(seq)


def format_cursor(store: str, seq: int) -> str:
    return f"{store}:{seq}" if store else str(seq)
