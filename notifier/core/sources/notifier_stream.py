"""The project's own protocol: a shop's event stream on an Order Notifier reference server.

Connects to `{url}/api/v1/shops/{shop}/stream?after=<cursor>` with the shop's client token
(keyring secret `notifier_token`) as a bearer token. Every event frame carries its sequence
number; the cursor is saved in the ledger in the same transaction as the event, so after any
crash or disconnect the server resends exactly what is not on disk yet.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from notifier.core import protocol
from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.i18n import tr
from notifier.core.protocol import SchemaError
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
        self.history_gap: str | None = None  # detail of the last gap the server reported
        self.frames = 0

    def _host(self) -> str:
        return super().server_label()

    def server_label(self) -> str:
        shop = self.settings["connection.shop"].strip()
        host = self._host()
        return f"{host}/{shop}" if shop else host

    # -- connection ----------------------------------------------------------------------

    def build_url(self) -> str:
        if not self.shop:
            raise ValueError(tr("no shop name is set"))
        if not protocol.SHOP_NAME.match(self.shop):
            raise ValueError(tr("the shop name {shop!r} is not valid", shop=self.shop))
        # A gap is reported for the connection it happened on; the next one resumes after it.
        self.history_gap = None
        saved = self.saved_cursor(self.cursor_name)
        self._cursor = int(saved) if saved and saved.isdigit() else 0
        base = self.settings["connection.url"].rstrip("/")
        return f"{base}{protocol.API_PREFIX}/{quote(self.shop, safe='')}/stream?after={self._cursor}"

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
        if frame.get("reset"):
            # The server no longer has the store our cursor points into (rebuilt or replaced):
            # it replays from its beginning and the ledger drops whatever we already have.
            log.warning("%s no longer knows position %d; starting over from its first event",
                        self.server_label(), self._cursor)
            self._cursor = 0

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
        try:
            event = protocol.event_from_frame(frame, server=self.server_label(), raw=text)
        except (ValueError, SchemaError) as skip:
            # Not advancing the cursor is harmless: the next good event moves it past this one.
            self.skipped(f"bad event frame: {skip}", text)
            return
        seq = frame["seq"]
        if seq <= self._cursor:
            return  # already on disk (a resend after a reconnect)
        self.deliver(event, cursor=(self.cursor_name, str(seq)))
        self._cursor = seq
