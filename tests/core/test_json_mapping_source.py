"""The JSON-over-WebSocket source on a real connection (the double's /ws/ path serves as a plain
JSON push server: it broadcasts whatever text it is given)."""

from __future__ import annotations

import json
from decimal import Decimal

from notifier.core.connection import ConnState
from notifier.core.events import OrderKind
from notifier.core.settings import Settings


def test_the_documented_example_arrives_with_default_mapping(double, run_source):
    running = run_source(Settings({"connection.protocol": "json", "connection.url": double.ws_url + "shop-1"}))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    double.send_text("hello")  # not an order: skipped
    double.send_text('{"customer_name": "Zhang San"}')  # no id: skipped
    double.send_text('{"order_id": 123456, "customer_name": "Zhang San", "order_amount": 100.00}')
    (event,) = running.wait_orders(1)
    assert (event.kind, event.order_id, event.customer, event.amount, event.source) == (
        OrderKind.NEW_ORDER, "123456", "Zhang San", Decimal("100.00"), "json")
    double.send_text('{"order_id": 123456, "customer_name": "Zhang San", "order_amount": 100.00}')
    double.send_text('{"order_id": 123457}')
    running.wait_orders(2)
    assert [e.order_id for e in running.orders] == ["123456", "123457"]  # the repeat is a no-op
    assert double.state.sids == ["shop-1"]  # the URL is used as given


def test_a_mapping_with_kind_field_and_nested_paths(double, run_source):
    settings = Settings({
        "connection.protocol": "json", "connection.url": double.ws_url + "x",
        "json.kind_field": "msg.kind", "json.new_order_values": "paid",
        "json.reminder_values": "urge", "json.order_id_field": "msg.order.id",
        "json.amount_field": "msg.order.total", "json.customer_field": "msg.order.buyer.name",
    })
    running = run_source(settings)
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    for kind in ("paid", "refund?", "urge"):
        double.send_text(json.dumps({"msg": {"kind": kind, "order": {"id": 9, "total": "12.5",
                                                                      "buyer": {"name": "李四"}}}}))
    orders = running.wait_orders(2)
    assert [(e.kind, e.order_id, e.amount, e.customer) for e in orders] == [
        (OrderKind.NEW_ORDER, "9", Decimal("12.50"), "李四"), (OrderKind.REMINDER, "9", Decimal("12.50"), "李四")]
