"""The sky-take-out (苍穹外卖) admin API: the few endpoints the app uses (login, the orders
waiting to be accepted, one order's details, accept, reject, 派送, 完成, 取消, the day's figures,
the shop's 营业 / 打烊), and what an order's status says about how it ended and where it is now.
Used only on the source's admin client (`BackEndClient`), never by two
threads at once: the token and the re-login are not thread-safe.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from notifier.core.events import clip
from notifier.core.ledger import Ending

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGES = 40  # 2,000 waiting orders is far beyond any shop; stop rather than loop forever
HTTP_TIMEOUT_S = 5.0
# After the server refused our password, wait this long before trying it again: a wrong password
# will not fix itself, and many backends lock an account after repeated failures.
LOGIN_RETRY_S = 30.0


# Order statuses of sky-take-out (Orders.java).
PENDING_PAYMENT, TO_BE_CONFIRMED, CONFIRMED, DELIVERY_IN_PROGRESS, COMPLETED, CANCELLED = range(1, 7)
ACCEPTED_STATUSES = (CONFIRMED, DELIVERY_IN_PROGRESS, COMPLETED)
# An accepted order's status as how far it got (order_state's progress values); CONFIRMED is none.
PROGRESS_OF_STATUS = {DELIVERY_IN_PROGRESS: "delivering", COMPLETED: "completed", CANCELLED: "cancelled"}


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

    def deliver(self, order_id: str) -> None:
        """派送: `PUT /admin/order/delivery/{id}` (only from 待派送)."""
        self.call("PUT", f"/admin/order/delivery/{_wire_id(order_id)}")

    def complete(self, order_id: str) -> None:
        """完成: `PUT /admin/order/complete/{id}` (only from 派送中)."""
        self.call("PUT", f"/admin/order/complete/{_wire_id(order_id)}")

    def cancel(self, order_id: str, reason: str) -> None:
        """取消 by the shop: `PUT /admin/order/cancel {"id": …, "cancelReason": "…"}`."""
        self.call("PUT", "/admin/order/cancel", {"id": _wire_id(order_id), "cancelReason": reason})

    def business_data(self) -> dict[str, Any] | None:
        """Today's figures: `GET /admin/workspace/businessData` ({turnover, validOrderCount,
        orderCompletionRate, unitPrice, newUsers})."""
        data = self.get("/admin/workspace/businessData")
        return data if isinstance(data, dict) else None

    def statistics(self) -> dict[str, Any] | None:
        """Orders by state now: `GET /admin/order/statistics` ({toBeConfirmed, confirmed,
        deliveryInProgress})."""
        data = self.get("/admin/order/statistics")
        return data if isinstance(data, dict) else None

    def set_shop_open(self, is_open: bool) -> None:
        """营业 / 打烊: `PUT /admin/shop/1` (open) or `/admin/shop/0` (closed)."""
        self.call("PUT", f"/admin/shop/{1 if is_open else 0}")

    def shop_open(self) -> bool | None:
        """`GET /admin/shop/status`: True open, False closed, None never set (an empty key)."""
        data = self.get("/admin/shop/status")
        return None if data not in (0, 1) or isinstance(data, bool) else data == 1

    def waiting_orders(self) -> list[dict[str, Any]]:
        """Every order waiting to be accepted (status 2), all pages."""
        return self.orders_with_status(TO_BE_CONFIRMED)

    def orders_with_status(self, status: int) -> list[dict[str, Any]]:
        """Every order with this status, all pages."""
        records: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = self.get(f"/admin/order/conditionSearch?status={status}&page={page}&pageSize={PAGE_SIZE}")
            batch = (data or {}).get("records") if isinstance(data, dict) else None
            if not isinstance(batch, list):
                break
            records.extend(r for r in batch if isinstance(r, dict))
            total = data.get("total")
            if len(batch) < PAGE_SIZE or (isinstance(total, int) and len(records) >= total):
                break
        return records

    def details(self, order_id: str, timeout: float = HTTP_TIMEOUT_S) -> dict[str, Any] | None:
        data = self.get(f"/admin/order/details/{order_id}", timeout=timeout)
        return data if isinstance(data, dict) else None
