"""Decoding server messages: what becomes an order, what is skipped, and that nothing else comes
out (Hypothesis)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.order_details import MAX_ITEMS, OrderDetails, OrderItem
from notifier.core.settings import Settings
from notifier.core.sources.decoding import NotAnOrder
from notifier.core.sources.json_mapping import FieldMapping
from notifier.core.sources.skytakeout import decode_frame, event_from_record

# -- sky-take-out -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"type":1,"orderId":1001,"content":"订单号：17000001001"}',
        '{"content":"订单号：17000001001","orderId":1001,"type":1}',
        '{"orderId":1001,"type":"1","content":"订单号：17000001001"}',
        '  {"orderId":"1001","content":"订单号：17000001001","type":1, "extra": [1,2]}',
    ],
)
def test_type_1_in_any_key_order_is_a_new_order(text):
    event = decode_frame(text, server="shop:8080")
    assert (event.kind, event.order_id, event.order_number) == (OrderKind.NEW_ORDER, "1001", "17000001001")
    assert event.source == "skytakeout" and event.server == "shop:8080" and event.raw == text


def test_type_2_is_a_reminder():
    event = decode_frame('{"orderId":1001,"content":"订单号：17000001001","type":2}', server="s")
    assert event.kind is OrderKind.REMINDER and event.order_id == "1001"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("这是来自服务端的消息：12:00:05", "not a JSON object"),  # the demo task's plain text
        ("", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        ('{"type":1,"orderId":', "not valid JSON"),
        ('{"type":3,"orderId":1001}', "unknown type"),
        ('{"type":1}', "no orderId"),
        ('{"type":true,"orderId":1}', "no usable type"),
        ('{"type":[1],"orderId":1}', "no usable type"),
        ('{"type":1,"orderId":{"id":1}}', "wrong type"),
        ('{"type":1,"orderId":1.5}', "not a whole number"),
        ('{"type":1,"orderId":"' + "9" * 100 + '"}', "too long"),
        ('{"type":1,"orderId":NaN}', "not a whole number"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON object"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "not valid JSON"),
        ('{"type":1,"orderId":' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
def test_what_is_not_an_order_says_why(text, reason):
    with pytest.raises(NotAnOrder, match=reason):
        decode_frame(text, server="s")


def test_admin_record_becomes_a_rich_new_order():
    record = {"id": 1001, "number": "17000001001", "amount": 56.5, "consignee": "张三", "remark": "少辣"}
    event = event_from_record(record, server="s")
    assert (event.order_id, event.order_number, event.amount, event.customer, event.text) == (
        "1001", "17000001001", Decimal("56.50"), "张三", "少辣")


# -- JSON mapping -------------------------------------------------------------------------


def test_the_documented_example_with_default_settings():
    mapping = FieldMapping.from_settings(Settings())
    event = mapping.decode('{"order_id": 123456, "customer_name": "Zhang San", "order_amount": 100.00}',
                           source="json", server="s")
    assert event.kind is OrderKind.NEW_ORDER
    assert (event.order_id, event.customer, event.amount) == ("123456", "Zhang San", Decimal("100.00"))


def test_a_mapping_with_kind_field_and_nested_paths():
    mapping = FieldMapping.from_settings(Settings({
        "json.kind_field": "event.type", "json.new_order_values": "ORDER_PAID",
        "json.reminder_values": "URGE", "json.order_id_field": "data.order.id",
        "json.order_number_field": "data.order.no", "json.amount_field": "data.order.total",
        "json.customer_field": "data.buyer.name", "json.text_field": "data.items.0.name",
    }))
    message = {"event": {"type": "ORDER_PAID"},
               "data": {"order": {"id": "A-77", "no": 9001, "total": "38.00"}, "buyer": {"name": "李四"},
                        "items": [{"name": "奶茶"}]}}
    event = mapping.decode(json.dumps(message), source="json", server="s")
    assert (event.kind, event.order_id, event.order_number, event.amount, event.customer, event.text) == (
        OrderKind.NEW_ORDER, "A-77", "9001", Decimal("38.00"), "李四", "奶茶")
    message["event"]["type"] = "URGE"
    assert mapping.decode(json.dumps(message), source="json", server="s").kind is OrderKind.REMINDER
    message["event"]["type"] = "REFUNDED"
    with pytest.raises(NotAnOrder, match="unknown kind"):
        mapping.decode(json.dumps(message), source="json", server="s")
    del message["event"]
    with pytest.raises(NotAnOrder, match="no kind field"):
        mapping.decode(json.dumps(message), source="json", server="s")


# -- the order's details: each decoder fills them -----------------------------------------


def test_a_json_mapping_reads_items_remark_phone_and_address_where_the_settings_say():
    mapping = FieldMapping.from_settings(Settings({
        "json.items_field": "order.lines", "json.item_fields": "dishName,count,unitPrice,spec",
        "json.remark_field": "order.memo", "json.phone_field": "buyer.tel",
        "json.address_field": "buyer.addr"}))
    message = {"order_id": 8, "order": {"memo": "少辣", "lines": [
        {"dishName": "牛肉面", "count": "2", "unitPrice": 18, "spec": "大份"},
        {"dishName": "", "count": 1}, {"count": 3}, "Tea", {"dishName": {"x": 1}}]},
        "buyer": {"tel": 13812345678, "addr": "幸福路 8 号"}}
    details = mapping.decode(json.dumps(message), source="json", server="s").details
    assert details == OrderDetails.of([OrderItem("牛肉面", 2, Decimal("18.00"), "大份"), OrderItem("Tea")],
                                      remark="少辣", phone="13812345678", address="幸福路 8 号")


def test_a_json_mapping_keeps_the_first_items_and_counts_the_rest():
    message = {"order_id": 1, "items": [{"name": f"d{n}", "quantity": 1} for n in range(MAX_ITEMS + 55)]}
    details = FieldMapping().decode(json.dumps(message), source="json", server="s").details
    assert len(details.items) == MAX_ITEMS and details.more_items == 55
    assert FieldMapping().decode('{"order_id": 1, "items": "not a list"}', source="json",
                                 server="s").details == OrderDetails()


def test_sky_take_out_details_and_pulled_records_become_the_same_details():
    answer = {"id": 5, "number": "17000000005", "amount": 60.0, "remark": "不要香菜",
              "phone": "13800000000", "address": "北京市朝阳区", "orderDishes": "宫保鸡丁*2;米饭*1;",
              "orderDetailList": [{"name": "宫保鸡丁", "number": 2, "amount": 28.0, "dishFlavor": "微辣"},
                                  {"name": "米饭", "number": 1, "amount": 4.0, "dishFlavor": None}]}
    details = event_from_record(answer, server="s").details
    assert details.items == (OrderItem("宫保鸡丁", 2, Decimal("28.00"), "微辣"),
                             OrderItem("米饭", 1, Decimal("4.00")))
    assert (details.remark, details.phone, details.address) == ("不要香菜", "13800000000", "北京市朝阳区")
    pulled = event_from_record({**answer, "orderDetailList": None}, server="s").details
    assert [(i.name, i.quantity) for i in pulled.items] == [("宫保鸡丁", 2), ("米饭", 1)]


def test_amqp_messages_carry_their_details_through_the_same_mapping():
    from notifier.core.sources.amqp import AmqpSource

    source = AmqpSource(Settings({"connection.protocol": "amqp", "connection.url": "amqp://u@h/v"}),
                        None, lambda _s: None, None)  # decoding needs no host
    body = json.dumps({"order_id": 3, "items": [{"name": "饺子", "quantity": 20}], "remark": "醋多点"})
    details = source.decode(body.encode()).details
    assert details.items == (OrderItem("饺子", 20),) and details.remark == "醋多点"


def test_numeric_kind_values_match_their_text():
    mapping = FieldMapping(kind_field="type")
    assert mapping.decode('{"type": 2.0, "order_id": 5}', source="json", server="s").kind is OrderKind.REMINDER
    assert mapping.decode('{"type": "cancel", "order_id": 5}', source="json", server="s").kind is OrderKind.CANCELLED


# -- fuzz ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
protocol_keys = st.sampled_from(["type", "orderId", "content", "order_id", "customer_name", "order_amount",
                                 "data", "kind", "id", "number", "amount"])
messages = st.dictionaries(protocol_keys | st.text(max_size=6), json_values, max_size=6)
frames = st.one_of(
    st.text(max_size=300),
    messages.map(json.dumps),
    messages.map(lambda m: json.dumps(m)[: max(0, len(json.dumps(m)) - 3)]),  # truncated
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.integers(1, 3000).map(lambda n: "[" * n),
)
mappings = st.builds(
    FieldMapping,
    kind_field=st.sampled_from(["", "type", "kind", "data.kind", "a.0.b"]),
    order_id_field=st.sampled_from(["order_id", "orderId", "id", "data.id", "data.0", ""]),
    order_number_field=st.sampled_from(["order_number", "number", "data.no", ""]),
    amount_field=st.sampled_from(["order_amount", "amount", "data"]),
    customer_field=st.sampled_from(["customer_name", "data", "content"]),
    text_field=st.sampled_from(["content", "data", "type"]),
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_events_or_not_an_order(decode) -> OrderEvent | None:
    try:
        event = decode()
    except NotAnOrder:
        return None
    assert isinstance(event, OrderEvent) and event.order_id
    json.dumps(event.to_json_dict(), ensure_ascii=False).encode("utf-8")  # printable as a line
    assert event.key
    return event


@FUZZ
@given(frames)
def test_skytakeout_decoder_yields_an_event_or_not_an_order(text):
    only_events_or_not_an_order(lambda: decode_frame(text, server="s"))


@FUZZ
@given(st.fixed_dictionaries({"type": json_values, "orderId": json_values}, optional={"content": json_values}))
def test_skytakeout_decoder_on_protocol_shaped_junk(message):
    event = only_events_or_not_an_order(lambda: decode_frame(json.dumps(message), server="s"))
    if event is not None:
        assert event.kind in (OrderKind.NEW_ORDER, OrderKind.REMINDER)


@FUZZ
@given(mappings, frames)
def test_json_mapping_decoder_yields_an_event_or_not_an_order(mapping, text):
    only_events_or_not_an_order(lambda: mapping.decode(text, source="json", server="s"))


@FUZZ
@given(json_values)
def test_admin_records_yield_an_event_or_not_an_order(record):
    if isinstance(record, dict):
        only_events_or_not_an_order(lambda: event_from_record(record, server="s"))


event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["new_order", "reminder", "cancelled", "refund", "paid"]) | json_values,
        "order_id": st.text(max_size=70) | json_values,
        "order_number": json_values, "amount": json_values | st.text(max_size=40),
        "currency": st.sampled_from(["CNY", "usd"]) | json_values, "customer": json_values,
        "text": json_values, "occurred_at": st.datetimes().map(lambda d: d.isoformat()) | json_values,
    },
)
notifier_frames = st.fixed_dictionaries(
    {"type": st.just("event")},
    optional={"seq": st.integers(-2, 2**70) | json_values, "store": json_values,
              "received_at": st.datetimes().map(lambda d: d.isoformat()) | json_values,
              "event": event_bodies | json_values},
)


@FUZZ
@given(notifier_frames)
def test_notifier_protocol_decoder_yields_an_event_or_a_value_error(frame):
    protocol = pytest.importorskip("notifier.core.protocol")
    try:
        event = protocol.event_from_frame(frame, server="s", raw=json.dumps(frame))
    except ValueError:  # SchemaError is one: the source logs and skips it
        return
    assert isinstance(event, OrderEvent) and event.order_id and event.event_id
    json.dumps(event.to_json_dict(), ensure_ascii=False).encode("utf-8")
