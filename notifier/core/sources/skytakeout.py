"""Sky-take-out (苍穹外卖) backends: live frames on `/ws/{sid}`, missed orders from the admin API.

Live frames are `{"type": 1|2, "orderId": N, "content": "订单号：<number>"}` (1 = new paid order,
2 = customer reminder), broadcast to every client; the server keeps no history. When an admin
account is configured, orders waiting to be accepted are pulled after every (re)connect and every
few minutes, so an order paid while we were offline is still announced (once: the ledger knows
the ones it has).

The back end pushes nothing when an order is accepted, rejected or cancelled elsewhere. So while
any order of this back end still rings here, the same pull runs every
`skytakeout.status_poll_interval` seconds (15 by default; one
paged request for every waiting order: a batch, whatever the number ringing) and each ringing
order missing from it is looked up (at most `MAX_STATUS_LOOKUPS` per poll) and ended the way it
ended elsewhere. The same poll follows the orders accepted and not yet completed or cancelled
(派送 / 完成 / 取消 on another PC or the admin page), at a calmer pace (`FOLLOW_FACTOR` times the
status poll's interval, a minute by default: an order out for delivery is not urgent the way a
ringing one is, and a shop that never presses 完成 would otherwise keep the poll fast all day): the lists of 待派送 and 派送中 orders, and a lookup
for one that left both. When nothing rings or is under way the pull keeps its own, slow pace.

Every request to the admin API goes through one `BackEndClient` ("skytakeout-admin"): a new
order's details first, then the shop's decisions (`skytakeout_actions`), then the pull; so there
is one login, and no lock for the pull, the details and an accept to take turns on.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import replace
from datetime import date
from typing import Any

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import DETAILS_WAIT_S, OrderEvent, OrderKind, clip, parse_amount
from notifier.core.i18n import tr
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.secrets import SecretState
from notifier.core.shop_switch import ShopChangeFailed, ShopSwitch
from notifier.core.sources.backend_client import DECISION, DETAILS, BackEndClient
from notifier.core.sources.decoding import NotAnOrder, parse_json_object, scalar_text
from notifier.core.sources.skytakeout_admin import (  # noqa: F401 - LOGIN_RETRY_S: tests tune it
    CANCELLED,
    CONFIRMED,
    DELIVERY_IN_PROGRESS,
    HTTP_TIMEOUT_S,
    LOGIN_RETRY_S,
    PROGRESS_OF_STATUS,
    AdminApi,
    AdminApiError,
    ending_of,
)
from notifier.core.sources.websocket_base import WebSocketSource

log = logging.getLogger(__name__)

PROTOCOL = "skytakeout"
_NUMBER_IN_CONTENT = re.compile(r"(\d{1,40})")
# A new order is delivered (stored, shown) at once; its details (amount, consignee, items) are
# fetched right after by the admin client, each request within this bound, which leaves room to
# store them before the event's `details_due` (DETAILS_WAIT_S after it arrived) passes.
ENRICH_TIMEOUT_S = DETAILS_WAIT_S - 0.3
MAX_STATUS_LOOKUPS = 20
FOLLOW_FACTOR = 4
# The customer's own cancellation (the real back end's userCancelById writes this reason); any
# other reason on a cancelled order that was accepted is the shop's 取消.
CUSTOMER_CANCEL_REASON = "用户取消"


def decode_frame(text: str, *, server: str) -> OrderEvent:
    """One live frame as an event, or NotAnOrder."""
    message = parse_json_object(text)
    kind_value = message.get("type")
    if isinstance(kind_value, bool) or not isinstance(kind_value, int | str):
        raise NotAnOrder("no usable type")
    kind = {"1": OrderKind.NEW_ORDER, "2": OrderKind.REMINDER}.get(str(kind_value).strip())
    if kind is None:
        raise NotAnOrder("unknown type")
    order_id = scalar_text(message.get("orderId"), field="orderId")
    if order_id is None:
        raise NotAnOrder("no orderId")
    content = message.get("content")
    content = clip(content) if isinstance(content, str | int) else None
    number = None
    if content:
        match = _NUMBER_IN_CONTENT.search(content)
        number = match.group(1) if match else None
    return OrderEvent(kind=kind, order_id=order_id, source=PROTOCOL, server=server,
                      order_number=number, text=content, raw=text)


def _dishes(text: str) -> list[OrderItem | None]:
    """conditionSearch's `orderDishes` ("宫保鸡丁*2;米饭*3;") as items: a pulled record has no
    `orderDetailList`."""
    items: list[OrderItem | None] = []
    for part in text.split(";"):
        name, star, count = part.strip().rpartition("*")
        items.append(OrderItem.of(name, count) if star else OrderItem.of(part))
    return items


def details_of(record: dict[str, Any]) -> OrderDetails:
    """The items, remark, phone and address of an admin-API record: the details answer
    (`orderDetailList`: name, number, amount = the dish's price, dishFlavor) or a pulled one."""
    lines = record.get("orderDetailList")
    if isinstance(lines, list):
        items = [OrderItem.of(line.get("name"), line.get("number"), line.get("amount"),
                              line.get("dishFlavor"))
                 for line in lines if isinstance(line, dict)]
    elif isinstance(record.get("orderDishes"), str):
        items = _dishes(record["orderDishes"][:64 * 1024])
    else:
        items = []
    return OrderDetails.of(items, remark=record.get("remark"), phone=record.get("phone"),
                           address=record.get("address"))


def event_from_record(record: dict[str, Any], *, server: str, raw: str = "") -> OrderEvent:
    """An order from the admin API (conditionSearch record or details) as a new-order event."""
    order_id = scalar_text(record.get("id"), field="id")
    if order_id is None:
        raise NotAnOrder("record without id")
    number = record.get("number")
    return OrderEvent(
        kind=OrderKind.NEW_ORDER,
        order_id=order_id,
        source=PROTOCOL,
        server=server,
        order_number=scalar_text(number, field="number") if number is not None else None,
        amount=parse_amount(record.get("amount")),
        customer=clip(record.get("consignee") or record.get("userName")),
        text=clip(record.get("remark")) or None,
        raw=raw or json.dumps(record, ensure_ascii=False, default=str)[:4096],
        details=details_of(record),
    )


class SkyTakeOutSource(WebSocketSource):
    protocol = PROTOCOL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Everything asked of the admin API (the pull, a new order's details, the status poll,
        # accept / reject) goes through one client: one queue, one worker thread, one login.
        self.client: BackEndClient[AdminApi] | None = None
        if self.settings["skytakeout.admin_url"] and self.settings["skytakeout.admin_user"]:
            api = AdminApi(
                self.settings["skytakeout.admin_url"],
                self.settings["skytakeout.admin_user"],
                self._admin_password,
                self.settings["connection.proxy"],
            )
            self.client = BackEndClient(api, "skytakeout-admin", on_idle=self._pull_if_due)
            self.shop_switch = ShopSwitch(self._send_shop_state, self.server_label())
        self._pull_now = threading.Event()
        self._last_pull = time.monotonic()
        self.pull_interval_s = float(self.settings["skytakeout.pull_interval"])
        self.admin_problem: str | None = None
        # Why the password could not be read (keyring missing or locked): that, not "wrong
        # password", is what the owner must be told.
        self.keyring_problem: str | None = None
        self.pulls = 0
        self.status_poll_s = float(self.settings["skytakeout.status_poll_interval"])
        self.status_lookups = 0  # orders looked up because they left the waiting list
        self.follow_s = FOLLOW_FACTOR * self.status_poll_s
        self._last_shop_read = float("-inf")  # 营业 / 打烊 is read on the status poll's clock

    @property
    def admin(self) -> AdminApi | None:
        """The admin API (used only on the client's worker), or None without an admin account."""
        return self.client.api if self.client else None

    def _admin_password(self) -> str | None:
        value, problem = self.secrets.get("skytakeout_admin_password")
        if problem:
            log.warning("admin password unavailable: %s", problem.sentence())
        self.keyring_problem = (
            problem.sentence() if problem and problem.state is not SecretState.NOT_FOUND else None
        )
        return value

    def _admin_status(self) -> ConnectionStatus:
        if self.keyring_problem:
            return ConnectionStatus(ConnState.MISCONFIGURED, self.server_label(), self.keyring_problem)
        return ConnectionStatus(ConnState.UNAUTHORIZED, self.server_label(), self.admin_problem or "")

    def build_url(self) -> str:
        # A fresh sid for every attempt: a reused sid can silently stop delivery on that server.
        return self.settings["connection.url"].rstrip("/") + "/" + secrets.token_hex(8)

    def start(self) -> None:
        super().start()
        if self.client:
            self.client.start()

    def stop(self, timeout: float = 5.0) -> None:
        # One deadline for the connection and the admin client together: a quit (SIGTERM,
        # Ctrl+C) must not wait for each of them in turn.
        deadline = time.monotonic() + timeout
        super().stop(timeout)
        if self.client:
            self.client.stop(max(0.0, deadline - time.monotonic()))

    def on_open(self) -> None:
        self._pull_now.set()
        if self.client:
            self.client.wake()

    def connected_status(self) -> ConnectionStatus:
        if self.admin_problem:
            return self._admin_status()
        return super().connected_status()

    # -- decisions -----------------------------------------------------------------------

    def action_sender(self):
        from notifier.core.sources.skytakeout_actions import SkyTakeOutActions

        return SkyTakeOutActions(self.client, self.server_label()) if self.client else None

    def actions_unavailable(self) -> str | None:
        from notifier.core.sources.skytakeout_actions import actions_unavailable

        return actions_unavailable(self.settings)

    def action_capabilities(self) -> frozenset[str]:
        from notifier.core.sources.skytakeout_actions import CAPABILITIES

        return CAPABILITIES

    def day_figures(self, day):
        """Today's figures from businessData and the order statistics (the back end has them
        for today only), through the admin client."""
        from notifier.core.sources.skytakeout_figures import figures_of

        if self.client is None or day != date.today():
            return None
        answers = self.client.call(lambda api: (api.business_data(), api.statistics()),
                                   timeout=2 * HTTP_TIMEOUT_S + 1)
        return figures_of(day, *answers)

    # -- 营业 / 打烊 -------------------------------------------------------------------------

    def _send_shop_state(self, is_open: bool) -> None:
        """The shop switch's sender: one request on the admin client, as urgent as a decision."""
        try:
            self.client.call(lambda api: api.set_shop_open(is_open), DECISION, timeout=3 * HTTP_TIMEOUT_S)
        except AdminApiError as exc:
            if exc.refusal is not None:
                raise ShopChangeFailed(tr("The shop's system refused it: {message}", message=exc.refusal)) from None
            if exc.unauthorized:
                raise ShopChangeFailed(tr("The admin account was refused; check its user name and password "
                                          "in the settings.")) from None
            raise

    def _read_shop_if_due(self, api: AdminApi) -> None:
        """On the client's worker: what another PC (or the admin page) made of 营业 / 打烊, every
        `status_poll_interval`; the back end pushes nothing when it changes."""
        if self.shop_switch is None or time.monotonic() - self._last_shop_read < self.status_poll_s:
            return
        self._last_shop_read = time.monotonic()
        try:
            self.shop_switch.seen(api.shop_open())
        except AdminApiError as exc:
            log.debug("could not read the shop's state: %s", exc)

    # -- live frames and their details ---------------------------------------------------

    def handle_text(self, text: str) -> None:
        try:
            event = decode_frame(text, server=self.server_label())
        except NotAnOrder as skip:
            self.skipped(str(skip), text)
            return
        # Stored and told at once with what the frame had; the details follow (the pull's
        # records carry them already, so only orders new from a frame are looked up). The event
        # says until when they may come: the voice line and the ticket wait that long at most.
        fetch = self.client is not None and event.kind is OrderKind.NEW_ORDER and not self.admin_problem
        if fetch:
            event = replace(event, details_due=time.time() + DETAILS_WAIT_S)
        if self.deliver(event) and fetch:
            self.client.submit(lambda api, event=event: self._fetch_details(api, event), DETAILS)

    def _fetch_details(self, api: AdminApi, event: OrderEvent) -> None:
        """On the client's worker: the order's amount, consignee and details (items, remark,
        phone, address), kept with the order and handed on (the popup updated in place, the
        voice line waiting for them released)."""
        if self.admin_problem or self.stopping:
            return  # the pull keeps trying the password, at its own slow pace
        try:
            record = api.details(event.order_id, timeout=ENRICH_TIMEOUT_S)
        except AdminApiError as exc:
            log.info("could not fetch details of order %s: %s", event.order_id, exc)
            return
        if not record:
            return
        try:
            rich = event_from_record(record, server=event.server, raw=event.raw)
        except NotAnOrder:
            return
        try:
            self.host.details_arrived(replace(
                event, order_number=rich.order_number or event.order_number, amount=rich.amount,
                customer=rich.customer, text=rich.text or event.text, details=rich.details,
                details_due=None))
        except Exception:  # noqa: BLE001 - the order itself is stored; details are a bonus
            log.exception("could not keep the details of order %s", event.order_id)

    # -- the pull and the status poll ----------------------------------------------------

    def _pull_if_due(self) -> None:
        """On the client's worker, between requests: the pull when a connection came up, every
        `pull_interval`, and every `status_poll_interval` while an order of this back end rings."""
        if self.stopping:
            return
        if not self.admin_problem:
            self._read_shop_if_due(self.client.api)
        since = time.monotonic() - self._last_pull
        asked = self._pull_now.is_set()
        if not asked and since < self.pull_interval_s and (
                since < self.status_poll_s or not self._ringing()) and (
                since < self.follow_s or not self._under_way()):
            return
        self._pull_now.clear()
        self._last_pull = time.monotonic()
        self._pull(self.client.api)

    def _ringing(self) -> list[str]:
        return self.host.ringing(PROTOCOL, self.server_label())

    def _under_way(self) -> list[tuple[str, str]]:
        return self.host.in_progress(PROTOCOL, self.server_label())

    def pull_once(self) -> int:
        """Announce waiting orders the ledger has not seen; returns how many were new."""
        if not self.client:
            return 0
        return self.client.call(self._pull)

    def _pull(self, api: AdminApi) -> int:
        try:
            records = api.waiting_orders()
        except AdminApiError as exc:
            self.admin_problem = str(exc) if exc.unauthorized else None
            log.warning("could not pull waiting orders from %s: %s", self.server_label(), exc)
            if exc.unauthorized:
                self.publish(self._admin_status())
            return 0
        self.pulls += 1
        if self.admin_problem:
            self.admin_problem = None
            if self.status.state in (ConnState.UNAUTHORIZED, ConnState.MISCONFIGURED) and self.connections:
                self.publish(super().connected_status())
        new = 0
        for record in records:
            try:
                event = event_from_record(record, server=self.server_label())
            except NotAnOrder as skip:
                self.skipped(f"pulled record: {skip}")
                continue
            if self.deliver(event):  # with its details: the record carries them
                new += 1
        if new:
            log.info("recovered %d order(s) paid while disconnected", new)
        waiting_ids = set()
        for record in records:
            try:
                waiting_ids.add(scalar_text(record.get("id"), field="id"))
            except NotAnOrder:
                pass
        self._end_departed(api, waiting_ids)
        self._follow_under_way(api)
        return new

    def _end_departed(self, api: AdminApi, waiting_ids: set[str | None]) -> int:
        """Ringing orders that are no longer waiting were handled elsewhere: find out how (a
        bounded number of lookups per poll) and end them; returns how many ended."""
        departed = [o for o in self._ringing() if o not in waiting_ids]

        def end(order_id: str, details: dict) -> bool:
            how = ending_of(details) if details else None
            return bool(how) and self.host.end_order(PROTOCOL, self.server_label(), order_id, *how)

        return self._look_up(api, departed, end)

    def _look_up(self, api: AdminApi, order_ids: list[str], learn) -> int:
        """Read the details of at most `MAX_STATUS_LOOKUPS` of these orders and hand each to
        `learn(order_id, details)`; returns how many it said were news."""
        news = 0
        for order_id in order_ids[:MAX_STATUS_LOOKUPS]:
            try:
                details = api.details(order_id, timeout=HTTP_TIMEOUT_S)
            except AdminApiError as exc:
                log.info("could not look up order %s: %s", order_id, exc)
                continue
            self.status_lookups += 1
            news += bool(learn(order_id, details or {}))
        return news

    def _follow_under_way(self, api: AdminApi) -> int:
        """Orders accepted and not finished here that went on elsewhere (派送, 完成, 取消 on
        another PC or the admin page): their state moves; returns how many moved."""
        under_way = self._under_way()
        if not under_way:
            return 0
        try:
            confirmed = {str(r.get("id")) for r in api.orders_with_status(CONFIRMED)}
            delivering = {str(r.get("id")) for r in api.orders_with_status(DELIVERY_IN_PROGRESS)}
        except AdminApiError as exc:
            log.info("could not follow the orders under way: %s", exc)
            return 0
        moved, gone = 0, []
        for order_id, state in under_way:
            if order_id in delivering:
                moved += state != "delivering" and self.host.progressed(
                    PROTOCOL, self.server_label(), order_id, "delivering")
            elif order_id not in confirmed:
                gone.append(order_id)  # completed or cancelled: its details say which
        return moved + self._look_up(api, gone, self._moved)

    def _moved(self, order_id: str, details: dict) -> bool:
        """Keep what an order's status says about how far it got (see PROGRESS_OF_STATUS)."""
        status, reason = details.get("status"), details.get("cancelReason")
        reason = reason.strip()[:200] if isinstance(reason, str) and reason.strip() else None
        if status == CANCELLED and (reason is None or reason == CUSTOMER_CANCEL_REASON):
            return self.host.end_order(PROTOCOL, self.server_label(), order_id, "cancelled", reason)
        progress = PROGRESS_OF_STATUS.get(status)
        return bool(progress) and self.host.progressed(PROTOCOL, self.server_label(), order_id,
                                                       progress, reason)
