"""The sky-take-out double's merchant calls (issue 24's table), checked over real HTTP: the
response shapes and state rules the e2e tests rely on, and the record of what it received.
Small on purpose: the app's own tests drive these calls end to end."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fakes.skytakeout_server import (
    CANCELLED,
    COMPLETED,
    DELIVERING,
    REFUNDED,
    SkyTakeOutDouble,
)


@pytest.fixture
def double():
    with SkyTakeOutDouble() as running:
        yield running


def call(double: SkyTakeOutDouble, method: str, path: str, body: dict | None = None, token: str | None = None):
    """(HTTP status, JSON answer) of one admin call, logged in first unless `token` is given."""
    if token is None:
        token = call(double, "POST", "/admin/employee/login", {"username": "admin", "password": "123456"},
                     token="")[1]["data"]["token"]
    request = urllib.request.Request(double.admin_url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "token": token})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


OK = (200, {"code": 1, "msg": None, "data": None})
WRONG_STATE = (200, {"code": 0, "msg": "订单状态错误", "data": None})


def test_an_orders_life_follows_the_real_state_rules(double):
    order = double.pay(amount="40.00")["id"]
    assert call(double, "PUT", f"/admin/order/delivery/{order}") == WRONG_STATE, "not accepted yet"
    assert call(double, "PUT", "/admin/order/confirm", {"id": order}) == OK
    assert call(double, "PUT", f"/admin/order/complete/{order}") == WRONG_STATE, "not out for delivery"
    assert call(double, "PUT", f"/admin/order/delivery/{order}") == OK
    assert double.status(order) == DELIVERING
    assert call(double, "PUT", f"/admin/order/delivery/{order}") == WRONG_STATE, "only from 待派送"
    assert call(double, "PUT", f"/admin/order/complete/{order}") == OK
    assert double.status(order) == COMPLETED and double.orders[order]["deliveryTime"]
    assert call(double, "PUT", "/admin/order/cancel", {"id": order, "cancelReason": "x"}) == WRONG_STATE
    assert call(double, "PUT", "/admin/order/delivery/999999") == (200, {"code": 0, "msg": "订单不存在", "data": None})
    assert call(double, "PUT", "/admin/order/delivery/abc")[0] == 400


def test_the_shop_cancels_with_a_reason_and_the_customer_is_refunded(double):
    order = double.pay()["id"]
    double.accept(order)
    assert call(double, "PUT", "/admin/order/cancel", {"id": order, "cancelReason": "菜品已售完"}) == OK
    record = double.orders[order]
    assert (record["status"], record["cancelReason"], record["payStatus"]) == (CANCELLED, "菜品已售完", REFUNDED)
    assert record["cancelTime"]


def test_statistics_shop_status_and_todays_business_data(double):
    # One order stays 待接单: it counts in the completion rate's denominator only.
    _waiting, accepted, out, done, done2 = (double.pay(amount=a)["id"] for a in ("10", "20", "30", "40", "50.5"))
    double.accept(accepted)
    double.accept(out)
    double.deliver(out)
    for order in (done, done2):
        double.accept(order)
        double.deliver(order)
        call(double, "PUT", f"/admin/order/complete/{order}")
    assert call(double, "GET", "/admin/order/statistics")[1]["data"] == {
        "toBeConfirmed": 1, "confirmed": 1, "deliveryInProgress": 1}
    assert call(double, "GET", "/admin/shop/status")[1] == {"code": 1, "msg": None, "data": 1}
    assert call(double, "PUT", "/admin/shop/0") == OK
    assert call(double, "GET", "/admin/shop/status")[1]["data"] == 0
    data = call(double, "GET", "/admin/workspace/businessData")[1]["data"]
    assert data == {"turnover": 90.5, "validOrderCount": 2, "orderCompletionRate": 0.4, "unitPrice": 45.25,
                    "newUsers": 0}


def test_every_call_is_recorded_and_a_missing_token_is_refused(double):
    assert call(double, "GET", "/admin/shop/status", token="not-a-token")[0] == 401
    order = double.pay()["id"]
    call(double, "PUT", "/admin/order/confirm", {"id": order})
    call(double, "PUT", f"/admin/order/delivery/{order}")
    call(double, "PUT", "/admin/shop/1")
    assert double.state.requests == [("PUT", "/admin/order/confirm", {"id": order}),
                                     ("PUT", f"/admin/order/delivery/{order}", None),
                                     ("PUT", "/admin/shop/1", None)]
    assert [name for _at, name, _body in double.state.actions] == ["confirm", "delivery"]
