"""派送, 完成 and 取消 from a PC's order actions through the reference server, with real clients
on 127.0.0.1: every PC of the shop sees the order's new state (the stream's decision events),
today's figures come from the server's /today, and a refusal comes back as a sentence named by
the order's number. On both stores (SQLite and a real redis-server)."""

from __future__ import annotations

import io
import json
from decimal import Decimal

from helpers import wait_until

from notifier.core import order_state
from notifier.core.listener import JsonLinesOutput
from notifier.core.order_actions import OrderActions
from notifier.core.today import BackEndFigures, at_a_glance

BOTH_STORES = True


def order_on(client, order_id: str):
    wait_until(lambda: order_id in client.order_ids(), 10, message=f"order {order_id} never arrived")
    return next(e for e in client.orders if e.order_id == order_id)


def outcomes():
    seen = []
    return seen, lambda action, ok, sentence: seen.append((action.action, ok, sentence))


def test_deliver_complete_and_cancel_reach_every_pc(server, make_client):
    a, b = make_client(server), make_client(server)
    server.publish(order_id="601", order_number="6001", amount="30.00")
    server.publish(order_id="602", order_number="6002", amount="12.00")
    first_a, first_b = order_on(a, "601"), order_on(b, "601")
    second_a, second_b = order_on(a, "602"), order_on(b, "602")
    seen, on_result = outcomes()
    printed = io.StringIO()  # what `notifier listen` on B prints
    b.intake.on_progress(JsonLinesOutput(printed).progressed)
    actions = OrderActions(a.ledger.path, a.source, on_result)
    try:
        assert actions.offered(order_state.ACCEPTED) == ("deliver", "complete", "cancel")
        actions.accept(first_a)
        actions.accept(second_a)
        wait_until(lambda: b.ledger.find(first_b.key).state == order_state.ACCEPTED, 10)
        actions.deliver(first_a)
        wait_until(lambda: b.ledger.find(first_b.key).state == order_state.DELIVERING, 10)
        actions.complete(first_a)
        actions.cancel(second_a, "骑手不足")
        wait_until(lambda: b.ledger.find(first_b.key).state == order_state.COMPLETED, 10)
        wait_until(lambda: b.ledger.find(second_b.key).state == order_state.CANCELLED, 10)
        assert b.ledger.find(second_b.key).end_reason == "骑手不足"
        lines = [json.loads(line) for line in printed.getvalue().splitlines()]
        assert sorted((line["event"], line["order_id"], line["state"]) for line in lines) == [
            ("state", "601", "completed"), ("state", "601", "delivering"), ("state", "602", "cancelled")]
        wait_until(lambda: len(seen) == 5, 10)
        assert all(ok for _a, ok, _s in seen)
        assert a.ledger.find(first_a.key).state == order_state.COMPLETED

        glance = at_a_glance(b.ledger, BackEndFigures(b.source.day_figures))
        assert glance.today.from_back_end
        assert (glance.today.valid_orders, glance.today.takings) == (1, Decimal("30.00"))
        assert glance.today.by_state["cancelled"] == 1 and glance.today.by_state["completed"] == 1
    finally:
        actions.stop()


def test_a_refused_deliver_is_a_sentence_named_by_the_order_number(server, make_client):
    a, b = make_client(server), make_client(server)
    server.publish(order_id="611", order_number="6111", amount="9.00")
    on_a, on_b = order_on(a, "611"), order_on(b, "611")
    seen_a, result_a = outcomes()
    seen_b, result_b = outcomes()
    actions_a = OrderActions(a.ledger.path, a.source, result_a)
    actions_b = OrderActions(b.ledger.path, b.source, result_b)
    try:
        actions_a.accept(on_a)
        wait_until(lambda: b.ledger.find(on_b.key).state == order_state.ACCEPTED, 10)
        b.source.stop()  # B does not hear of the completion before its owner clicks 派送
        actions_a.complete(on_a)
        wait_until(lambda: len(seen_a) == 2, 10)
        assert actions_b.deliver(on_b).queued
        wait_until(lambda: seen_b, 10)
        assert seen_b == [("deliver", False, "Order 6111 was already completed.")]
        assert b.ledger.find(on_b.key).state == order_state.COMPLETED, "the refusal says how far it is"
    finally:
        actions_a.stop()
        actions_b.stop()
