"""The protocol helpers an order system relies on: signing, the event schema, frames.

No server and no store here (pure functions), so these run once; the server's use of them runs
on both stores in test_ingest and test_stream."""

from __future__ import annotations

import json

import pytest

from notifier.core import protocol
from notifier.core.events import OrderKind
from notifier.core.protocol import SchemaError, SignatureProblem


def test_a_signature_covers_timestamp_nonce_and_exact_body():
    body = b'{"order_id":"1"}'
    headers = protocol.signed_headers("s3cret", body, timestamp=1_700_000_000, nonce="n" * 16)
    ts, nonce, sig = (headers[h] for h in (protocol.TIMESTAMP_HEADER, protocol.NONCE_HEADER, protocol.SIGNATURE_HEADER))
    protocol.check_signature("s3cret", ts, nonce, sig, body, now=1_700_000_000)
    for secret, tampered_body, tampered_ts in (
        ("other", body, ts), ("s3cret", body + b" ", ts), ("s3cret", body, str(int(ts) + 1)),
    ):
        with pytest.raises(SignatureProblem) as refused:
            protocol.check_signature(secret, tampered_ts, nonce, sig, tampered_body, now=1_700_000_000)
        assert refused.value.reason == "bad_signature"


def test_a_correctly_signed_but_old_request_is_stale():
    body = b"{}"
    headers = protocol.signed_headers("k", body, timestamp=1_000, nonce="a" * 20)
    with pytest.raises(SignatureProblem) as refused:
        protocol.check_signature("k", headers[protocol.TIMESTAMP_HEADER], "a" * 20,
                                 headers[protocol.SIGNATURE_HEADER], body, now=1_000 + 301)
    assert refused.value.reason == "stale_timestamp"


@pytest.mark.parametrize("ts,nonce,sig,reason", [
    (None, "a" * 16, "sha256=x", "missing_signature"),
    ("12x", "a" * 16, "sha256=x", "bad_timestamp"),
    ("12", "short", "sha256=x", "bad_nonce"),
])
def test_malformed_signature_headers_are_named(ts, nonce, sig, reason):
    with pytest.raises(SignatureProblem) as refused:
        protocol.check_signature("k", ts, nonce, sig, b"{}")
    assert refused.value.reason == reason


def test_the_schema_normalises_and_names_the_bad_field():
    event = protocol.validate_event({"order_id": 42, "amount": 12.5, "customer": " 张三 "})
    assert event["kind"] == "new_order" and event["order_id"] == "42"
    assert event["amount"] == "12.50" and event["customer"] == "张三" and event["currency"] == "CNY"
    for body, field in (
        ({}, "order_id"), ({"order_id": ""}, "order_id"), ({"order_id": "1", "kind": "x"}, "kind"),
        ({"order_id": "1", "amount": "lots"}, "amount"), ({"order_id": "1", "amount": True}, "amount"),
        ({"order_id": "1", "currency": "yuan"}, "currency"), ({"order_id": "1", "tip": 1}, "tip"),
        ({"order_id": "1", "customer": "x" * 201}, "customer"), ({"order_id": [1]}, "order_id"),
        ({"order_id": "1", "occurred_at": "yesterday"}, "occurred_at"), ([1], "body"),
    ):
        with pytest.raises(SchemaError) as bad:
            protocol.validate_event(body)
        assert bad.value.field == field, body


def test_the_schema_takes_what_a_kitchen_needs_and_names_a_bad_item():
    event = protocol.validate_event({
        "order_id": "7", "items": [{"name": " 牛肉面 ", "quantity": "2", "price": 18, "notes": "大份"},
                                   {"name": "茶"}],
        "remark": "少辣", "phone": 13812345678, "address": "幸福路 8 号"})
    assert event["items"] == [{"name": "牛肉面", "quantity": 2, "price": "18.00", "notes": "大份"},
                              {"name": "茶"}]
    assert (event["remark"], event["phone"], event["address"]) == ("少辣", "13812345678", "幸福路 8 号")
    plain = protocol.validate_event({"order_id": "8"})
    assert not {"items", "remark", "phone", "address"} & plain.keys(), "stored as before when absent"
    for body, field in (
        ({"items": "面"}, "items"), ({"items": [{"name": "a"}] * 201}, "items"),
        ({"items": [{"name": "a"}, "b"]}, "items.1"), ({"items": [{"quantity": 1}]}, "items.0.name"),
        ({"items": [{"name": "a", "size": "L"}]}, "items.0.size"),
        ({"items": [{"name": "a", "quantity": 1.5}]}, "items.0.quantity"),
        ({"items": [{"name": "a", "quantity": -1}]}, "items.0.quantity"),
        ({"items": [{"name": "a", "price": "free"}]}, "items.0.price"),
        ({"items": [{"name": "x" * 101}]}, "items.0.name"),
        ({"items": [{"name": "a", "notes": "x" * 201}]}, "items.0.notes"),
        ({"remark": "x" * 501}, "remark"), ({"phone": "1" * 33}, "phone"), ({"address": ["x"]}, "address"),
    ):
        with pytest.raises(SchemaError) as bad:
            protocol.validate_event({"order_id": "1", **body})
        assert bad.value.field == field, body


def test_an_event_frame_carries_the_details_to_the_order_event():
    frame = json.loads(protocol.event_frame(3, "abc", 1_700_000_000.0, protocol.validate_event(
        {"order_id": "9", "items": [{"name": "面", "quantity": 2}], "remark": "少辣"})))
    details = protocol.event_from_frame(frame, server="h:1/shop").details
    assert [(i.name, i.quantity) for i in details.items] == [("面", 2)] and details.remark == "少辣"


def test_an_event_frame_becomes_an_order_event_with_a_unique_event_id():
    frame = json.loads(protocol.event_frame(7, "abc", 1_700_000_000.0, protocol.validate_event(
        {"kind": "reminder", "order_id": "9", "order_number": "A9", "amount": "3.10"})))
    event = protocol.event_from_frame(frame, server="h:1/shop")
    assert event.kind is OrderKind.REMINDER and event.order_id == "9" and event.order_number == "A9"
    assert str(event.amount) == "3.10" and event.event_id == "abc:7" and event.source == "notifier"
    with pytest.raises(ValueError):
        protocol.event_from_frame({**frame, "seq": "7"}, server="h")


def test_http_base_accepts_websocket_addresses():
    assert protocol.http_base("ws://h:1/") == "http://h:1"
    assert protocol.http_base("wss://h") == "https://h"
    with pytest.raises(ValueError):
        protocol.http_base("ftp://h")
