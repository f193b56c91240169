"""The wire shapes of the new decisions, checked without a server: the protocol's kinds and the
server's transition tables name the same things, a marked event's frame keeps the order readable
by any client, and a decision frame is read back as what it says."""

from __future__ import annotations

import json

import pytest

from notifier.core import protocol
from notifier.core.protocol import SchemaError
from notifier.server import order_states, shop_state


def test_every_action_leads_to_a_state_the_table_knows_and_every_state_has_a_refusal():
    assert set(protocol.ORDER_ACTIONS.values()) | {"cancelled"} == order_states.STATE_KINDS
    assert set(order_states.REFUSALS) == set(order_states.STATES)
    assert set(protocol.SHOP_ACTIONS.values()) == shop_state.KINDS
    assert order_states.TAKEN < set(order_states.STATES)


def test_a_marked_event_goes_out_with_the_mark_beside_it_and_the_order_unchanged():
    event = {"kind": "new_order", "order_id": "7", "order_number": None, "amount": "12.00", "currency": "CNY",
             "customer": None, "text": None, "occurred_at": None}
    stored = json.loads(shop_state.marked(protocol.encode_event(event)))
    frame = json.loads(protocol.event_frame(3, "s1", 0.0, stored, protocol.encode_event(event)))
    assert frame["arrived_while_closed"] is True and frame["event"] == event
    assert protocol.arrived_while_closed(frame)
    assert protocol.event_from_frame(frame, server="t").order_id == "7"
    plain = json.loads(protocol.event_frame(4, "s1", 0.0, event))
    assert "arrived_while_closed" not in plain and not protocol.arrived_while_closed(plain)


def test_decision_frames_read_back():
    frame = {"type": "event", "seq": 9, "store": "s1",
             "event": {"kind": "cancelled_by_shop", "order_id": "7", "text": "缺货", "occurred_at": "x"}}
    decision = protocol.decision_from_frame(frame)
    assert (decision.seq, decision.kind, decision.order_id, decision.reason) == (9, "cancelled_by_shop", "7", "缺货")
    closed = protocol.decision_from_frame({"seq": 10, "event": {"kind": "shop_closed", "text": None}})
    assert (closed.kind, closed.order_id) == ("shop_closed", None)
    for bad in ({"seq": 0, "event": {"kind": "completed", "order_id": "7"}},
                {"seq": 1, "event": {"kind": "new_order", "order_id": "7"}},
                {"seq": 1, "event": {"kind": "completed"}}):
        with pytest.raises(ValueError):
            protocol.decision_from_frame(bad)


def test_a_cancel_needs_a_reason_and_opening_takes_no_fields():
    assert protocol.validate_decision("7", {"reason": " 骑手\n无法配送 "}, reason_required=True) == ("7", "骑手 无法配送")
    with pytest.raises(SchemaError) as missing:
        protocol.validate_decision("7", {}, reason_required=True)
    assert missing.value.field == "reason"
    protocol.validate_shop_action(None)
    protocol.validate_shop_action({})
    with pytest.raises(SchemaError):
        protocol.validate_shop_action({"open": True})
    assert protocol.decision_path("a b", "1/2", "deliver") == "/api/v1/shops/a%20b/orders/1%2F2/deliver"
    with pytest.raises(ValueError):
        protocol.decision_path("a", "1", "refund")
