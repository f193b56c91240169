"""The order's life after 接单 (派送, 完成, 取消 with a reason) against the sky-take-out double on
127.0.0.1 (real HTTP, real ledger file): the request the back end receives, one per click,
offline clicks sent later, refusals as sentences named by the order's number, the state kept in
the ledger, and another PC's 派送 / 完成 seen through the status poll."""

from __future__ import annotations

import pytest

from notifier.core import order_state
from notifier.core.action_outbox import ActionOutbox
from notifier.core.connection import ConnState
from notifier.core.i18n import set_language
from notifier.core.order_actions import OrderActions
from tests.core.test_skytakeout_accept import Results, paid_order
from tests.fakes.running_source import sky_settings
from tests.fakes.skytakeout_server import ACCEPTED, CANCELLED, COMPLETED, DELIVERING
from tests.fakes.util import wait_until


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture
def shop(double, run_source, ledger):
    """A running sky-take-out source with an admin account, its order actions, and a way to
    have an order paid and accepted here."""
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    results = Results()
    actions = OrderActions(ledger.path, running.source, results)

    def accepted_order(**kw):
        record, event = paid_order(double, running, **kw)
        actions.accept(event)
        # Its result too: one that came after the clear would pass for the next action's.
        wait_until(lambda: double.status(record["id"]) == ACCEPTED and results.items, 10)
        results.items.clear()
        return record, event

    yield running, actions, results, accepted_order
    actions.stop()


def state(ledger, event):
    return ledger.find(event.key).state


def test_deliver_then_complete_sends_each_request_once_and_keeps_the_state(double, shop, ledger):
    _running, actions, results, accepted_order = shop
    record, event = accepted_order()
    assert state(ledger, event) == order_state.ACCEPTED
    assert actions.offered(order_state.ACCEPTED) == ("deliver", "complete", "cancel")
    first, again = actions.deliver(event), actions.deliver(event)
    assert first.queued and not again.queued, "a double click is one request"
    assert state(ledger, event) == order_state.DELIVERING, "the state moves at the click"
    assert results.wait() == [(str(record["id"]), True, None)]
    assert double.status(record["id"]) == DELIVERING
    actions.complete(event)
    results.wait(2)
    assert double.status(record["id"]) == COMPLETED
    assert state(ledger, event) == order_state.COMPLETED
    sent = [(m, p, b) for m, p, b in double.state.requests if "/delivery/" in p or "/complete/" in p]
    assert sent == [("PUT", f"/admin/order/delivery/{record['id']}", None),
                    ("PUT", f"/admin/order/complete/{record['id']}", None)]
    assert actions.offered(order_state.COMPLETED) == ()


def test_cancel_sends_the_reason(double, shop, ledger):
    _running, actions, results, accepted_order = shop
    record, event = accepted_order()
    actions.cancel(event, "  菜品已售完 ")
    results.wait()
    assert ("PUT", "/admin/order/cancel", {"id": record["id"], "cancelReason": "菜品已售完"}) in double.state.requests
    assert double.status(record["id"]) == CANCELLED
    entry = ledger.find(event.key)
    assert (entry.state, entry.end_reason) == (order_state.CANCELLED, "菜品已售完")


def test_an_action_the_state_does_not_allow_is_not_queued(double, shop, ledger):
    running, actions, _results, _accepted = shop
    _record, event = paid_order(double, running)
    decision = actions.deliver(event)  # not accepted yet
    assert not decision.queued and decision.order_state == order_state.WAITING
    assert actions.outbox.waiting() == 0 and state(ledger, event) == order_state.WAITING


def test_complete_before_delivery_is_refused_as_a_sentence_and_the_state_goes_back(double, shop, ledger):
    _running, actions, results, accepted_order = shop
    record, event = accepted_order()
    actions.complete(event)  # sky-take-out completes only what is out for delivery
    (outcome,) = results.wait()
    assert outcome == (str(record["id"]), False,
                       f"Order {record['number']} is not out for delivery yet: send it out first.")
    assert state(ledger, event) == order_state.ACCEPTED
    assert double.status(record["id"]) == ACCEPTED


def test_delivering_an_order_the_customer_cancelled_meanwhile_says_so(double, shop, ledger):
    _running, actions, results, accepted_order = shop
    record, event = accepted_order()
    double.cancel(record["id"], "用户取消")
    actions.deliver(event)
    (outcome,) = results.wait()
    assert outcome == (str(record["id"]), False,
                       f"Order {record['number']} was cancelled; it can no longer be delivered or completed.")
    assert state(ledger, event) == order_state.CANCELLED


def test_a_deliver_while_the_back_end_is_down_is_sent_when_it_is_back(double, shop, ledger):
    _running, actions, results, accepted_order = shop
    record, event = accepted_order()
    double.stop()
    actions.deliver(event)
    wait_until(lambda: actions.worker.status.state is ConnState.WAITING, 10)
    assert results.items == [] and actions.outbox.waiting() == 1
    double.start()
    assert results.wait(timeout=15) == [(str(record["id"]), True, None)]
    assert double.status(record["id"]) == DELIVERING
    assert [a for _t, a, _b in double.state.actions].count("delivery") == 1


def test_a_click_stored_before_a_crash_is_sent_at_the_next_start(double, shop, ledger):
    running, actions, results, accepted_order = shop
    record, event = accepted_order()
    actions.stop()  # the app died after the click reached the disk
    crashed = ActionOutbox(ledger.path)
    crashed.decide(actions.target, event.source, event.server, event.order_id, "deliver", connection_id="")
    crashed.close()
    again = OrderActions(ledger.path, running.source, results)
    try:
        assert results.wait() == [(str(record["id"]), True, None)]
        assert double.status(record["id"]) == DELIVERING
    finally:
        again.stop()


def test_another_pcs_deliver_and_complete_reach_this_pc_through_the_status_poll(double, shop, ledger):
    running, _actions, _results, accepted_order = shop
    running.source.status_poll_s = running.source.follow_s = 0.5
    moved = []
    running.intake.on_progress(lambda *args: moved.append(args[2:4]))
    record, event = accepted_order()
    other, other_event = accepted_order()
    double.deliver(record["id"])
    wait_until(lambda: state(ledger, event) == order_state.DELIVERING, 10)
    with double._lock:  # the admin page completes it, and the shop cancels the other
        double.orders[record["id"]]["status"] = COMPLETED
        double.orders[other["id"]].update(status=CANCELLED, cancelReason="骑手不足")
    wait_until(lambda: state(ledger, event) == order_state.COMPLETED, 10)
    wait_until(lambda: state(ledger, other_event) == order_state.CANCELLED, 10)
    assert ledger.find(other_event.key).end_reason == "骑手不足"
    assert moved == [(str(record["id"]), "delivering"), (str(record["id"]), "completed"),
                     (str(other["id"]), "cancelled")]
