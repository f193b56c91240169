"""A sky-take-out (苍穹外卖) backend double, written from the protocol in DESIGN.md / issue 2.

What it does, like the real backend:
- WebSocket `/ws/{sid}`: every client gets every broadcast (type 1 = paid order, type 2 =
  reminder, `{"type":…, "orderId":…, "content":"订单号：<number>"}`); no auth, no history.
- `POST /admin/employee/login` with `{"username","password"}` -> `{"code":1,"data":{"token":…}}`,
  wrong password -> `{"code":0,"msg":"密码错误"}`; tokens expire after `token_lifetime` seconds.
- `GET /admin/order/conditionSearch?status=2&page=&pageSize=` (paged `{"total","records"}`) and
  `GET /admin/order/details/{id}`, both with header `token`; a missing or expired token -> 401.
- `PUT /admin/order/confirm {"id"}` (接单) and `PUT /admin/order/rejection {"id",
  "rejectionReason"}` (拒单) -> `{"code":1,"msg":null,"data":null}`; an order that is not waiting
  -> `{"code":0,"msg":"订单状态错误","data":null}` (the real `rejection` checks this; its `confirm`
  does not, but a shop's back end that lets a cancelled order be accepted is a bug we do not copy).
- The order's life after that, with the real state rules: `PUT /admin/order/delivery/{id}` (派送)
  only from 待派送 (3) to 派送中 (4); `PUT /admin/order/complete/{id}` (完成) only from 派送中 (4)
  to 已完成 (5), setting `deliveryTime`; `PUT /admin/order/cancel {"id","cancelReason"}` (the
  shop cancels) to 已取消 (6) with `cancelReason`, `cancelTime` and a refund (`payStatus` 2) —
  the real one checks no state; cancelling a completed or already cancelled order is refused
  here ("订单状态错误"), for the reason given for `confirm`. An unknown order -> "订单不存在"; an id
  in the path that is not a number -> HTTP 400, like Spring's type check.
- `GET /admin/order/statistics` -> `{"toBeConfirmed","confirmed","deliveryInProgress"}` (orders
  in 2, 3 and 4).
- `PUT /admin/shop/{status}` (1 营业中, 0 打烊) and `GET /admin/shop/status` -> `data` the number
  (null until first set, like the real one's empty Redis key, when `shop_status` is None).
- `GET /admin/workspace/businessData` -> today's `{"turnover","validOrderCount",
  "orderCompletionRate","unitPrice","newUsers"}` over the orders whose `orderTime` is today:
  valid = completed (5), turnover = their amounts, unitPrice = turnover / valid and the rate =
  valid / all, both 0.0 when either count is 0.

What it adds for tests: pay/remind/accept orders, send raw frames, stop and start again on the
same port, records of every sid and login, the shop's calls it answered (`state.requests`:
method, path, JSON body of every order action, statistics, shop status and businessData), and `python -m tests.fakes.skytakeout_server` to run
it as its own process (controlled over `/__double__/…` HTTP endpoints) so a test can SIGSTOP it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.util import free_port, wait_until

WAITING = 2  # "待接单": paid, waiting for the shop to accept
ACCEPTED = 3  # "待派送": accepted, waiting to go out
DELIVERING = 4  # "派送中"
COMPLETED = 5  # "已完成"
CANCELLED = 6  # cancelled by the customer, or rejected by the shop (then rejectionReason is set)
PAID, REFUNDED = 1, 2  # payStatus


@dataclass
class LoginAttempt:
    at: float
    username: str
    ok: bool


@dataclass
class DoubleState:
    """Everything the double has seen, for assertions (read from the test thread)."""

    sids: list[str] = field(default_factory=list)
    logins: list[LoginAttempt] = field(default_factory=list)
    detail_requests: int = 0
    search_requests: int = 0
    unauthorized_requests: int = 0
    sent: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, text) broadcast
    # (monotonic, "confirm"|"rejection"|"delivery"|"complete"|"cancel", body) of every authorised
    # order action, taken or not (delivery and complete: {"id": the path's id})
    actions: list[tuple[float, str, dict]] = field(default_factory=list)
    # (method, path, JSON body or None) of every authorised order action, statistics, shop and
    # businessData request, in order
    requests: list[tuple[str, str, Any]] = field(default_factory=list)


class SkyTakeOutDouble:
    """The double on 127.0.0.1, served from its own event-loop thread."""

    def __init__(self, *, port: int | None = None, username: str = "admin", password: str = "123456",
                 token_lifetime: float = 7200.0, record_sent: bool = True):
        self.port = port or free_port()
        self.username = username
        self.password = password
        self.token_lifetime = token_lifetime
        self.record_sent = record_sent
        self.details_delay = 0.0  # seconds `GET /admin/order/details/{id}` takes to answer
        self.shop_status: int | None = 1  # what `GET /admin/shop/status` answers (1 营业中, 0 打烊)
        self.new_users = 0  # today's `newUsers` in businessData
        self.state = DoubleState()
        self.orders: dict[int, dict[str, Any]] = {}
        # The `orderDetailList` its details answer gives, per order (default: one 宫保鸡丁).
        self.dishes: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1001)
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self._clients: dict[web.WebSocketResponse, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="skytakeout-double", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    # -- addresses -------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_label(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- life cycle ------------------------------------------------------------------------

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> SkyTakeOutDouble:
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Stop serving (clients are disconnected); orders and records are kept for `start`."""
        self._call(self._stop())

    def close(self) -> None:
        try:
            self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> SkyTakeOutDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    async def _start(self) -> None:
        if self._runner:
            return
        app = web.Application()
        app.router.add_get("/ws/{sid}", self._ws)
        app.router.add_post("/admin/employee/login", self._login)
        app.router.add_get("/admin/order/conditionSearch", self._condition_search)
        app.router.add_get("/admin/order/details/{id}", self._details)
        app.router.add_put("/admin/order/confirm", self._confirm)
        app.router.add_put("/admin/order/rejection", self._rejection)
        app.router.add_put("/admin/order/delivery/{id}", self._delivery)
        app.router.add_put("/admin/order/complete/{id}", self._complete)
        app.router.add_put("/admin/order/cancel", self._cancel)
        app.router.add_get("/admin/order/statistics", self._statistics)
        app.router.add_put("/admin/shop/{status}", self._set_shop_status)
        app.router.add_get("/admin/shop/status", self._get_shop_status)
        app.router.add_get("/admin/workspace/businessData", self._business_data)
        app.router.add_post("/__double__/{action}", self._control)
        app.router.add_get("/__double__/state", self._control_state)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner

    async def _stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for ws in list(self._clients):
            await ws.close()
        await runner.cleanup()

    # -- test controls (call from any thread) ------------------------------------------------

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def wait_for_clients(self, count: int = 1, timeout: float = 10.0) -> None:
        wait_until(lambda: self.client_count >= count, timeout, message=f"{count} client(s) never connected")

    def new_order(self, *, amount: str = "56.50", consignee: str = "张三", remark: str = "",
                  order_id: int | None = None, dishes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """`dishes`: the order's lines as the details answer lists them ({"name", "number",
        "amount", "dishFlavor"}), one 宫保鸡丁 when not given."""
        with self._lock:
            order_id = order_id or next(self._ids)
            if dishes is not None:
                self.dishes[order_id] = dishes
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        record = {
            "id": order_id, "number": f"17{order_id:011d}", "status": WAITING, "userId": 4,
            "addressBookId": 1, "orderTime": now, "checkoutTime": now, "payMethod": 1, "payStatus": 1,
            "amount": float(Decimal(amount)), "remark": remark, "phone": "13800000000",
            "address": "北京市朝阳区", "userName": None, "consignee": consignee, "cancelReason": None,
            "rejectionReason": None, "cancelTime": None, "estimatedDeliveryTime": now,
            "deliveryStatus": 1, "deliveryTime": None, "packAmount": 1, "tablewareNumber": 0,
            "tablewareStatus": 1, "orderDishes": "宫保鸡丁*1;",
        }
        with self._lock:
            self.orders[order_id] = record
        return record

    def pay(self, **kwargs) -> dict[str, Any]:
        """A customer pays: the order waits for the shop, and connected clients hear type 1."""
        record = self.new_order(**kwargs)
        self.broadcast({"type": 1, "orderId": record["id"], "content": f"订单号：{record['number']}"})
        return record

    def remind(self, order_id: int) -> None:
        number = self.orders[order_id]["number"]
        self.broadcast({"type": 2, "orderId": order_id, "content": f"订单号：{number}"})

    def accept(self, order_id: int) -> None:
        """Someone else (the admin web page) accepted it."""
        with self._lock:
            self.orders[order_id]["status"] = ACCEPTED

    def cancel(self, order_id: int, reason: str = "用户取消") -> None:
        """The customer cancelled it."""
        with self._lock:
            self.orders[order_id].update(status=CANCELLED, cancelReason=reason)

    def reject(self, order_id: int, reason: str) -> None:
        """Someone else rejected it (status 6 with a rejection reason, like the real one)."""
        with self._lock:
            self.orders[order_id].update(status=CANCELLED, rejectionReason=reason, cancelReason=reason)

    def deliver(self, order_id: int) -> None:
        """Someone else (the admin web page) sent it out."""
        with self._lock:
            self.orders[order_id]["status"] = DELIVERING

    def status(self, order_id: int) -> int:
        with self._lock:
            return self.orders[order_id]["status"]

    def broadcast(self, message: dict[str, Any] | str) -> int:
        text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        return self._call(self._send(text.encode("utf-8"), WSMsgType.TEXT, text))

    def send_text(self, text: str) -> int:
        return self._call(self._send(text.encode("utf-8"), WSMsgType.TEXT, text))

    def send_raw(self, data: bytes, opcode: WSMsgType = WSMsgType.TEXT) -> int:
        """Any bytes in one frame, e.g. invalid UTF-8 marked as text."""
        return self._call(self._send(data, opcode, None))

    def revoke_tokens(self) -> None:
        """As if every token had expired."""
        with self._lock:
            self._tokens.clear()

    async def _send(self, data: bytes, opcode: WSMsgType, text: str | None) -> int:
        sent = 0
        if text is not None and self.record_sent:
            self.state.sent.append((time.monotonic(), text))
        for ws in list(self._clients):
            try:
                await ws.send_frame(data, opcode)
                sent += 1
            except (ConnectionError, RuntimeError):
                pass
        return sent

    # -- the protocol ----------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1024 * 1024)
        await ws.prepare(request)
        sid = request.match_info["sid"]
        self.state.sids.append(sid)
        self._clients[ws] = sid
        try:
            async for _msg in ws:
                pass  # the real server ignores what clients send
        finally:
            self._clients.pop(ws, None)
        return ws

    @staticmethod
    def _result(data: Any = None, *, code: int = 1, msg: str | None = None) -> web.Response:
        return web.json_response({"code": code, "msg": msg, "data": data},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _make_token(self) -> str:
        def b64(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        token = f"{b64({'alg': 'HS256'})}.{b64({'empId': 1, 'n': os.urandom(4).hex()})}.{os.urandom(16).hex()}"
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        return token

    def _authorised(self, request: web.Request) -> bool:
        token = request.headers.get("token", "")
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or time.monotonic() >= expiry:
            self.state.unauthorized_requests += 1
            return False
        return True

    async def _admin(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """An admin request's JSON body (None when it has none), recorded; or the 401."""
        if not self._authorised(request):
            return None, web.Response(status=401)
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        self.state.requests.append((request.method, request.path, body))
        return body, None

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        username = str(body.get("username", ""))
        ok = username == self.username and body.get("password") == self.password
        self.state.logins.append(LoginAttempt(time.monotonic(), username, ok))
        if username != self.username:
            return self._result(code=0, msg="账号不存在")
        if not ok:
            return self._result(code=0, msg="密码错误")
        return self._result({"id": 1, "userName": username, "name": "管理员", "token": self._make_token()})

    async def _condition_search(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        self.state.search_requests += 1
        page = max(1, int(request.query.get("page", "1")))
        size = max(1, int(request.query.get("pageSize", "10")))
        status = request.query.get("status")
        with self._lock:
            matching = [o for o in self.orders.values() if status is None or str(o["status"]) == status]
        matching.sort(key=lambda o: o["id"], reverse=True)  # newest first, like the real one
        records = matching[(page - 1) * size: page * size]
        return self._result({"total": len(matching), "records": records})

    async def _details(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        self.state.detail_requests += 1
        if self.details_delay:
            await asyncio.sleep(self.details_delay)
        try:
            record = self.orders.get(int(request.match_info["id"]))
        except ValueError:
            record = None
        if record is None:
            return self._result(code=0, msg="订单不存在")
        lines = self.dishes.get(record["id"]) or [{"name": "宫保鸡丁", "number": 1, "amount": record["amount"]}]
        details = dict(record, orderDetailList=lines)
        return self._result(details)

    async def _order_action(self, request: web.Request, name: str, allowed: frozenset[int] = frozenset((WAITING,))
                            ) -> tuple[dict | None, web.Response | None]:
        """The order an action names (body `id`, or the path's for delivery and complete), if its
        status is one of `allowed`; else the refusal the real one answers."""
        body, refusal = await self._admin(request)
        if refusal is not None:
            return None, refusal
        if "id" in request.match_info:
            if not request.match_info["id"].isdigit():
                return None, web.json_response({"status": 400, "error": "Bad Request"}, status=400)
            body = {"id": int(request.match_info["id"])}
        body = body if isinstance(body, dict) else {}
        self.state.actions.append((time.monotonic(), name, body))
        with self._lock:
            record = self.orders.get(body.get("id")) if isinstance(body.get("id"), int) else None
            if record is None and name in ("delivery", "complete", "cancel"):
                return None, self._result(code=0, msg="订单不存在")
            if record is None or record["status"] not in allowed:
                return None, self._result(code=0, msg="订单状态错误")
        return record, None

    async def _confirm(self, request: web.Request) -> web.Response:
        record, refusal = await self._order_action(request, "confirm")
        if refusal is not None:
            return refusal
        with self._lock:
            record["status"] = ACCEPTED
        return self._result()

    async def _rejection(self, request: web.Request) -> web.Response:
        record, refusal = await self._order_action(request, "rejection")
        if refusal is not None:
            return refusal
        with self._lock:
            record.update(status=CANCELLED, rejectionReason=(await request.json()).get("rejectionReason"),
                          cancelTime=time.strftime("%Y-%m-%d %H:%M:%S"))
        return self._result()

    async def _delivery(self, request: web.Request) -> web.Response:
        record, refusal = await self._order_action(request, "delivery", frozenset((ACCEPTED,)))
        if refusal is not None:
            return refusal
        with self._lock:
            record["status"] = DELIVERING
        return self._result()

    async def _complete(self, request: web.Request) -> web.Response:
        record, refusal = await self._order_action(request, "complete", frozenset((DELIVERING,)))
        if refusal is not None:
            return refusal
        with self._lock:
            record.update(status=COMPLETED, deliveryTime=time.strftime("%Y-%m-%d %H:%M:%S"))
        return self._result()

    async def _cancel(self, request: web.Request) -> web.Response:
        record, refusal = await self._order_action(request, "cancel", frozenset((WAITING, ACCEPTED, DELIVERING)))
        if refusal is not None:
            return refusal
        reason = self.state.actions[-1][2].get("cancelReason")
        with self._lock:
            record.update(status=CANCELLED, cancelReason=reason, cancelTime=time.strftime("%Y-%m-%d %H:%M:%S"))
            if record["payStatus"] == PAID:
                record["payStatus"] = REFUNDED
        return self._result()

    async def _statistics(self, request: web.Request) -> web.Response:
        _body, refusal = await self._admin(request)
        if refusal is not None:
            return refusal
        with self._lock:
            counts = {status: sum(1 for o in self.orders.values() if o["status"] == status)
                      for status in (WAITING, ACCEPTED, DELIVERING)}
        return self._result({"toBeConfirmed": counts[WAITING], "confirmed": counts[ACCEPTED],
                             "deliveryInProgress": counts[DELIVERING]})

    async def _set_shop_status(self, request: web.Request) -> web.Response:
        _body, refusal = await self._admin(request)
        if refusal is not None:
            return refusal
        status = request.match_info["status"]
        if not status.lstrip("-").isdigit():
            return web.json_response({"status": 400, "error": "Bad Request"}, status=400)
        self.shop_status = int(status)
        return self._result()

    async def _get_shop_status(self, request: web.Request) -> web.Response:
        _body, refusal = await self._admin(request)
        if refusal is not None:
            return refusal
        return self._result(self.shop_status)

    async def _business_data(self, request: web.Request) -> web.Response:
        _body, refusal = await self._admin(request)
        if refusal is not None:
            return refusal
        today = time.strftime("%Y-%m-%d")
        with self._lock:
            orders = [o for o in self.orders.values() if str(o["orderTime"]).startswith(today)]
        done = [o for o in orders if o["status"] == COMPLETED]
        turnover = float(sum(Decimal(str(o["amount"])) for o in done))
        both = bool(orders) and bool(done)
        return self._result({"turnover": turnover, "validOrderCount": len(done),
                             "orderCompletionRate": len(done) / len(orders) if both else 0.0,
                             "unitPrice": turnover / len(done) if both else 0.0, "newUsers": self.new_users})

    # -- control endpoints (for the separate-process mode) -----------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await request.json() if request.can_read_body else {}
        if action == "pay":
            record = self.new_order(**body)
            await self._send(*self._frame({"type": 1, "orderId": record["id"],
                                           "content": f"订单号：{record['number']}"}))
            return web.json_response(record)
        if action == "remind":
            number = self.orders[body["order_id"]]["number"]
            await self._send(*self._frame({"type": 2, "orderId": body["order_id"], "content": f"订单号：{number}"}))
            return web.json_response({})
        if action == "send":
            await self._send(*self._frame(body["text"]))
            return web.json_response({})
        return web.json_response({"error": "unknown action"}, status=404)

    @staticmethod
    def _frame(message: dict | str) -> tuple[bytes, WSMsgType, str]:
        text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        return text.encode("utf-8"), WSMsgType.TEXT, text

    async def _control_state(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "sids": self.state.sids, "clients": len(self._clients),
            "logins": [[a.at, a.username, a.ok] for a in self.state.logins],
            "orders": len(self.orders),
        })


class DoubleProcess:
    """The double in its own process, so a test can freeze it (SIGSTOP) with TCP left open."""

    def __init__(self, *, port: int | None = None, password: str = "123456", token_lifetime: float = 7200.0):
        self.port = port or free_port()
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=str(root))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.skytakeout_server", "--port", str(self.port),
             "--password", password, "--token-lifetime", str(token_lifetime)],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            raise RuntimeError(f"the sky-take-out double did not start: {line!r}")

    ws_url = SkyTakeOutDouble.ws_url
    admin_url = SkyTakeOutDouble.admin_url
    server_label = SkyTakeOutDouble.server_label

    def _post(self, action: str, body: dict) -> Any:
        request = urllib.request.Request(f"{self.admin_url}/__double__/{action}",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=5) as response:
            return json.loads(response.read())

    def pay(self, **kwargs) -> dict[str, Any]:
        return self._post("pay", kwargs)

    def state(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.admin_url}/__double__/state", timeout=5) as response:
            return json.loads(response.read())

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.thaw()
            self.proc.kill()
        self.proc.wait(5)
        self.proc.stdout.close()

    def __enter__(self) -> DoubleProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sky-take-out backend double (for tests)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="123456")
    parser.add_argument("--token-lifetime", type=float, default=7200.0)
    args = parser.parse_args(argv)
    double = SkyTakeOutDouble(port=args.port or None, username=args.username, password=args.password,
                              token_lifetime=args.token_lifetime, record_sent=False)
    double.start()
    print(f"READY {double.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    double.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
