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
ended elsewhere. When nothing rings the pull keeps its own, slow pace.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind, clip, parse_amount
from notifier.core.ledger import Ending
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.secrets import SecretState
from notifier.core.sources.decoding import NotAnOrder, parse_json_object, scalar_text
from notifier.core.sources.websocket_base import WebSocketSource

log = logging.getLogger(__name__)

PROTOCOL = "skytakeout"
_NUMBER_IN_CONTENT = re.compile(r"(\d{1,40})")
PAGE_SIZE = 50
MAX_PAGES = 40  # 2,000 waiting orders is far beyond any shop; stop rather than loop forever
HTTP_TIMEOUT_S = 5.0
# A new order is delivered (stored, shown) at once; its details (amount, consignee, items) are
# fetched right after, on a worker of their own, each within this bound: the desktop holds the
# voice line about as long, and then says what the order is worth.
ENRICH_TIMEOUT_S = 1.5
MAX_STATUS_LOOKUPS = 20
# After the server refused our password, wait this long before trying it again: a wrong password
# will not fix itself, and many backends lock an account after repeated failures.
LOGIN_RETRY_S = 30.0


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


# Order statuses of sky-take-out (Orders.java).
PENDING_PAYMENT, TO_BE_CONFIRMED, CONFIRMED, DELIVERY_IN_PROGRESS, COMPLETED, CANCELLED = range(1, 7)
ACCEPTED_STATUSES = (CONFIRMED, DELIVERY_IN_PROGRESS, COMPLETED)


def ending_of(details: dict) -> tuple[str, str | None] | None:
    """How an order that left "待接单" ended, from its details: (a ledger `Ending`, reason), or
    None while it still waits (or its status says nothing we act on)."""
    status = details.get("status")
    if status in ACCEPTED_STATUSES:
        return Ending.ACCEPTED_ELSEWHERE, None
    if status == CANCELLED:
        rejection = details.get("rejectionReason")
        if isinstance(rejection, str) and rejection.strip():
            return Ending.REJECTED_ELSEWHERE, rejection.strip()[:200]
        cancel = details.get("cancelReason")
        return Ending.CANCELLED, cancel.strip()[:200] if isinstance(cancel, str) and cancel.strip() else None
    return None


class AdminApiError(Exception):
    """The admin API refused or failed; `unauthorized` tells a wrong password from the rest,
    `refusal` is the back end's own message when it answered `code` 0 (e.g. "订单状态错误")."""

    def __init__(self, message: str, *, unauthorized: bool = False, refusal: str | None = None):
        super().__init__(message)
        self.unauthorized = unauthorized
        self.refusal = refusal


def _wire_id(order_id: str) -> int | str:
    """Order ids are Java longs on the wire; keep anything else as it came."""
    return int(order_id) if order_id.isascii() and order_id.isdigit() else order_id


class AdminApi:
    """The few admin endpoints we use. Logs in on first use and again when the token expires."""

    def __init__(self, base_url: str, username: str, password_getter, proxy: str = ""):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password_getter = password_getter
        self._token: str | None = None
        handlers = [urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {})]
        self._opener = urllib.request.build_opener(*handlers)
        self.logins = 0
        self._refusal: str | None = None
        self._refused_at = 0.0

    def _request(self, method: str, path: str, body: dict | None = None, *, token: str | None = None,
                 timeout: float = HTTP_TIMEOUT_S) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("token", token)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                payload = response.read(4 * 1024 * 1024)
        except urllib.error.HTTPError as exc:
            raise AdminApiError(f"admin API answered {exc.code}", unauthorized=exc.code in (401, 403)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminApiError(f"admin API unreachable: {reason}") from None
        try:
            result = json.loads(payload)
        except ValueError:
            raise AdminApiError("admin API sent something that is not JSON") from None
        if not isinstance(result, dict):
            raise AdminApiError("admin API sent an unexpected answer")
        if result.get("code") != 1:
            message = clip(result.get("msg"), 200) or "unknown error"
            raise AdminApiError(f"admin API refused: {message}", refusal=message)
        return result.get("data")

    def login(self) -> None:
        if self._refusal and time.monotonic() - self._refused_at < LOGIN_RETRY_S:
            raise AdminApiError(self._refusal, unauthorized=True)
        password = self._password_getter()
        if not password:
            raise AdminApiError("no admin password saved", unauthorized=True)
        self.logins += 1
        try:
            data = self._request("POST", "/admin/employee/login",
                                 {"username": self.username, "password": password})
        except AdminApiError as exc:
            # Code 0 on login means the account or password is wrong ("密码错误", "账号不存在").
            if "refused" in str(exc) or exc.unauthorized:
                self._refusal, self._refused_at = str(exc), time.monotonic()
                raise AdminApiError(str(exc), unauthorized=True) from None
            raise
        self._refusal = None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AdminApiError("admin login gave no token")
        self._token = token

    def get(self, path: str, timeout: float = HTTP_TIMEOUT_S) -> Any:
        return self.call("GET", path, timeout=timeout)

    def call(self, method: str, path: str, body: dict | None = None,
             timeout: float = HTTP_TIMEOUT_S) -> Any:
        """One request with the admin token, logging in first if needed and again, once, when
        the token is no longer accepted."""
        if self._token is None:
            self.login()
        try:
            return self._request(method, path, body, token=self._token, timeout=timeout)
        except AdminApiError as exc:
            if not exc.unauthorized:
                raise
        # The JWT expired (it lives 2 h) or was revoked: log in again, once, quietly.
        log.info("admin token no longer accepted; logging in again")
        self._token = None
        self.login()
        return self._request(method, path, body, token=self._token, timeout=timeout)

    def confirm(self, order_id: str) -> None:
        """接单: `PUT /admin/order/confirm {"id": …}`."""
        self.call("PUT", "/admin/order/confirm", {"id": _wire_id(order_id)})

    def reject(self, order_id: str, reason: str) -> None:
        """拒单: `PUT /admin/order/rejection {"id": …, "rejectionReason": "…"}`."""
        self.call("PUT", "/admin/order/rejection",
                  {"id": _wire_id(order_id), "rejectionReason": reason})

    def waiting_orders(self) -> list[dict[str, Any]]:
        """Every order waiting to be accepted (status 2), all pages."""
        records: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = self.get(f"/admin/order/conditionSearch?status=2&page={page}&pageSize={PAGE_SIZE}")
            batch = (data or {}).get("records") if isinstance(data, dict) else None
            if not isinstance(batch, list):
                break
            records.extend(r for r in batch if isinstance(r, dict))
            total = data.get("total")
            if len(batch) < PAGE_SIZE or (isinstance(total, int) and len(records) >= total):
                break
        return records

    def details(self, order_id: str, timeout: float = ENRICH_TIMEOUT_S) -> dict[str, Any] | None:
        data = self.get(f"/admin/order/details/{order_id}", timeout=timeout)
        return data if isinstance(data, dict) else None


class SkyTakeOutSource(WebSocketSource):
    protocol = PROTOCOL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin: AdminApi | None = None
        if self.settings["skytakeout.admin_url"] and self.settings["skytakeout.admin_user"]:
            self.admin = AdminApi(
                self.settings["skytakeout.admin_url"],
                self.settings["skytakeout.admin_user"],
                self._admin_password,
                self.settings["connection.proxy"],
            )
        self._pull_now = threading.Event()
        self._admin_lock = threading.Lock()  # AdminApi is used by the pull and the live thread
        self._puller: threading.Thread | None = None
        # New orders whose details are still to be fetched. A worker, not the live thread: a slow
        # admin API must not hold up the next frame (a burst of orders, the server's pings).
        self._to_enrich: queue.SimpleQueue[OrderEvent | None] = queue.SimpleQueue()
        self._enricher: threading.Thread | None = None
        self.admin_problem: str | None = None
        # Why the password could not be read (keyring missing or locked): that, not "wrong
        # password", is what the owner must be told.
        self.keyring_problem: str | None = None
        self.pulls = 0
        self.status_poll_s = float(self.settings["skytakeout.status_poll_interval"])
        self.status_lookups = 0  # orders looked up because they left the waiting list

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
        if self.admin and not (self._puller and self._puller.is_alive()):
            self._puller = threading.Thread(target=self._pull_loop, name="skytakeout-pull", daemon=True)
            self._puller.start()

    def stop(self, timeout: float = 5.0) -> None:
        # One deadline for the connection, the pull and the details threads together: a quit
        # (SIGTERM, Ctrl+C) must not wait for each of them in turn.
        deadline = time.monotonic() + timeout
        self._pull_now.set()
        self._to_enrich.put(None)
        super().stop(timeout)
        for thread in (self._puller, self._enricher):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def on_open(self) -> None:
        self._pull_now.set()

    def connected_status(self) -> ConnectionStatus:
        if self.admin_problem:
            return self._admin_status()
        return super().connected_status()

    def handle_text(self, text: str) -> None:
        try:
            event = decode_frame(text, server=self.server_label())
        except NotAnOrder as skip:
            self.skipped(str(skip), text)
            return
        # Stored and told at once with what the frame had; the details follow (the pull's
        # records carry them already, so only orders new from a frame are looked up).
        if self.deliver(event) and self.admin and event.kind is OrderKind.NEW_ORDER:
            self._to_enrich.put(event)
            if not (self._enricher and self._enricher.is_alive()):
                self._enricher = threading.Thread(target=self._enrich_loop, name="skytakeout-details",
                                                  daemon=True)
                self._enricher.start()

    def _enrich_loop(self) -> None:
        while not self.stopping:
            event = self._to_enrich.get()
            if event is None or self.stopping:
                return
            try:
                rich = self._enrich(event)
                if rich is not None:
                    self._details_fetched(rich)
            except Exception:  # noqa: BLE001 - the worker must survive anything; the order is stored
                log.exception("fetching the details of order %s failed", event.order_id)

    def _ledger(self):
        """The ledger behind the sink (OrderIntake), or None for a bare sink."""
        return getattr(getattr(self.sink, "__self__", None), "ledger", None)

    def _details_fetched(self, event: OrderEvent) -> None:
        """Details of an order already told (on `event`): through the intake (ledger, then the
        popup and the voice line waiting for them), or straight into the ledger for a bare sink."""
        arrived = getattr(getattr(self.sink, "__self__", None), "details_arrived", None)
        try:
            if callable(arrived):
                arrived(event)
            elif (ledger := self._ledger()) is not None:
                ledger.set_details(event.source, event.server, event.order_id, event.details,
                                   amount=event.amount, customer=event.customer)
        except Exception:  # noqa: BLE001 - the order itself is stored; details are a bonus
            log.exception("could not keep the details of order %s", event.order_id)

    def _end(self, order_id: str, how: str, reason: str | None) -> bool:
        owner = getattr(self.sink, "__self__", None)
        end = getattr(owner, "end_order", None)
        return bool(end(PROTOCOL, self.server_label(), order_id, how, reason)) if callable(end) else False

    def _enrich(self, event: OrderEvent) -> OrderEvent | None:
        """The order with its amount, consignee and details (items, remark, phone, address), if
        the admin API answers quickly; None when it does not."""
        if self.admin_problem:
            return None  # the pull keeps trying the password, at its own slow pace
        started = time.monotonic()
        # A long pull must not hold up a live order: without the lock in time, go without details.
        if not self._admin_lock.acquire(timeout=ENRICH_TIMEOUT_S):
            return None
        try:
            left = max(0.1, ENRICH_TIMEOUT_S - (time.monotonic() - started))
            details = self.admin.details(event.order_id, timeout=left) if self.admin else None
        except AdminApiError as exc:
            log.info("could not fetch details of order %s: %s", event.order_id, exc)
            return None
        finally:
            self._admin_lock.release()
        if not details:
            return None
        try:
            rich = event_from_record(details, server=event.server, raw=event.raw)
        except NotAnOrder:
            return None
        return OrderEvent(
            kind=event.kind, order_id=event.order_id, source=event.source, server=event.server,
            order_number=rich.order_number or event.order_number, amount=rich.amount,
            customer=rich.customer, text=rich.text or event.text, occurred_at=event.occurred_at,
            raw=event.raw, details=rich.details,
        )

    def _ringing(self) -> list[str]:
        ledger = self._ledger()
        return ledger.ringing_order_ids(PROTOCOL, self.server_label()) if ledger else []

    def _pull_loop(self) -> None:
        interval = float(self.settings["skytakeout.pull_interval"])
        last = time.monotonic()
        while not self.stopping:
            asked = self._pull_now.wait(1.0)
            if self.stopping:
                return
            since = time.monotonic() - last
            # The status poll: only while something rings, never when nothing does.
            if not asked and since < interval and (since < self.status_poll_s or not self._ringing()):
                continue
            self._pull_now.clear()
            last = time.monotonic()
            try:
                self.pull_once()
            except Exception:  # noqa: BLE001 - the pull thread must survive anything
                log.exception("pulling waiting orders failed")

    def pull_once(self) -> int:
        """Announce waiting orders the ledger has not seen; returns how many were new."""
        if not self.admin:
            return 0
        try:
            with self._admin_lock:
                records = self.admin.waiting_orders()
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
        self._end_departed(waiting_ids)
        return new

    def _end_departed(self, waiting_ids: set[str | None]) -> int:
        """Ringing orders that are no longer waiting were handled elsewhere: find out how (a
        bounded number of lookups per poll) and end them; returns how many ended."""
        departed = [o for o in self._ringing() if o not in waiting_ids][:MAX_STATUS_LOOKUPS]
        ended = 0
        for order_id in departed:
            try:
                with self._admin_lock:
                    details = self.admin.details(order_id, timeout=HTTP_TIMEOUT_S) if self.admin else None
            except AdminApiError as exc:
                log.info("could not look up order %s: %s", order_id, exc)
                continue
            self.status_lookups += 1
            how = ending_of(details) if details else None
            if how and self._end(order_id, *how):
                ended += 1
        return ended

