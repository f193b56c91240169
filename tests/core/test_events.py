"""The order event model and the connection state value."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from notifier.core.connection import Backoff, ConnectionStatus, ConnState
from notifier.core.events import MAX_FIELD_CHARS, OrderEvent, OrderKind, clip, parse_amount
from notifier.core.listener import JsonLinesOutput


def test_a_new_order_has_one_key_however_it_arrived():
    live = OrderEvent(OrderKind.NEW_ORDER, "1001", "skytakeout", "shop:8080", text="订单号：1", raw="a")
    pulled = OrderEvent(OrderKind.NEW_ORDER, "1001", "skytakeout", "shop:8080", amount=Decimal("5"),
                        occurred_at=datetime(2020, 1, 1, tzinfo=UTC), raw="b")
    assert live.key == pulled.key
    reminder = OrderEvent(OrderKind.REMINDER, "1001", "skytakeout", "shop:8080")
    assert reminder.key != live.key


def test_the_parts_keeping_a_waiting_order_share_one_copy_of_its_key():
    """After a burst of a thousand, the alert centre, the escalation steps and the decisions each
    hold the key of every waiting order: one string per order, not one per holder (issue 27)."""
    event = OrderEvent(OrderKind.NEW_ORDER, "2000123", "json", "ws://127.0.0.1:8000/", connection_id="c1",
                       raw='{"order_id": "2000123"}')
    slim = event.without_frame()  # the one copy the bridge hands the alert centre and escalation
    assert slim.raw == "" and slim.without_frame() is slim  # nobody copies it again
    assert event.key is event.key is slim.key
    assert event.key == "c1|json|ws://127.0.0.1:8000/|new_order|2000123"


def test_an_order_keyed_by_its_frame_alone_keeps_its_frame_and_so_its_key():
    """Acknowledging such an order on the PC finds it by key: its slim copy must have the same."""
    event = OrderEvent(OrderKind.REMINDER, "", "json", "s", raw='{"remind": true}')
    assert event.without_frame().key == event.key
    reminder = OrderEvent(OrderKind.REMINDER, "", "json", "s", event_id="e7", raw='{"remind": true}')
    assert reminder.without_frame().raw == "" and reminder.without_frame().key == reminder.key


def test_events_without_an_id_are_keyed_by_their_payload():
    a = OrderEvent(OrderKind.NEW_ORDER, "", "json", "s", raw='{"x":1}')
    b = OrderEvent(OrderKind.NEW_ORDER, "", "json", "s", raw='{"x":2}')
    assert a.key != b.key and a.key == OrderEvent(OrderKind.NEW_ORDER, "", "json", "s", raw='{"x":1}').key


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100.0, Decimal("100.00")), (56.5, Decimal("56.50")), ("1,234.5", Decimal("1234.50")),
     (7, Decimal("7.00")), ("0.1", Decimal("0.10")), (None, None), (True, None), ("abc", None),
     (float("nan"), None), (float("inf"), None), ("1e30", None), ("9" * 40, None), ([], None)],
)
def test_parse_amount(value, expected):
    assert parse_amount(value) == expected


def test_clip_bounds_text_and_removes_lone_surrogates():
    assert clip(None) is None
    assert clip(12) == "12"
    assert len(clip("x" * 10_000)) == MAX_FIELD_CHARS
    assert clip("a\udcffb") == "a?b"


def test_json_line_has_what_the_listener_promises():
    event = OrderEvent(OrderKind.REMINDER, "1001", "skytakeout", "shop:8080", order_number="17",
                       amount=Decimal("56.50"), text="订单号：17")
    out = io.StringIO()
    assert JsonLinesOutput(out).order(event)
    line = json.loads(out.getvalue())
    assert line["event"] == "order" and line["kind"] == "reminder"
    assert (line["order_id"], line["order_number"], line["amount"], line["source"]) == ("1001", "17", 56.5, "skytakeout")
    assert "订单号" in out.getvalue()  # readable, not \\u escapes
    assert event.display_number == "17"


def test_backoff_grows_never_waits_past_the_cap_and_never_retries_at_once():
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(100)]
    assert all(0.25 <= d <= 30.0 for d in delays)
    assert max(delays[:3]) < 4 and min(delays[20:]) >= 15
    backoff.reset()
    assert backoff.next_delay() <= 0.5


@pytest.mark.parametrize("state", list(ConnState))
def test_every_state_has_a_sentence_naming_the_server(state):
    status = ConnectionStatus(state, "shop:8080", detail="no url", retry_in=4.2, reason=ConnState.UNAUTHORIZED)
    sentence = status.sentence()
    assert sentence.endswith((".", "…", "url"))
    if state not in (ConnState.STOPPED, ConnState.MISCONFIGURED):
        assert "shop:8080" in sentence
    data = status.to_json_dict()
    assert data["event"] == "connection" and data["state"] == str(state)
    json.dumps(data)


def test_waiting_sentence_says_why_and_when():
    status = ConnectionStatus(ConnState.WAITING, "shop:8080", retry_in=4.2, reason=ConnState.UNAUTHORIZED)
    assert status.sentence() == "Wrong password or token for shop:8080. Retrying in 4 s."
