"""Accepting and rejecting sky-take-out orders from here, against the double on 127.0.0.1 (real
HTTP, real ledger file): one request per click, offline clicks kept and sent, refusals told as
sentences, and orders handled elsewhere ending here through the status poll."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import outbox_actions

from notifier.core.action_outbox import ActionOutbox
from notifier.core.connection import ConnState
from notifier.core.i18n import set_language
from notifier.core.ledger import Ending
from notifier.core.order_actions import OrderActions
from tests.fakes.running_source import sky_settings
from tests.fakes.skytakeout_server import ACCEPTED, CANCELLED
from tests.fakes.util import wait_until

CONTRADICTED = "contradicted"  # Decision.state when the history already says how it ended


@pytest.fixture(autouse=True)
def english():
    set_language("en")


class Results:
    def __init__(self):
        self.items: list[tuple[str, bool, str | None]] = []
        self._lock = threading.Lock()

    def __call__(self, action, ok, sentence):
        with self._lock:
            self.items.append((action.order_id, ok, sentence))

    def wait(self, count: int = 1, timeout: float = 10.0):
        wait_until(lambda: len(self.items) >= count, timeout, message=f"results: {self.items}")
        return list(self.items)


@pytest.fixture
def accepting(double, run_source, ledger):
    """A running sky-take-out source with an admin account, and its order actions."""
    started = []

    def start():
        running = run_source(sky_settings(double, admin=True))
        running.wait_state(ConnState.CONNECTED)
        double.wait_for_clients()
        results = Results()
        actions = OrderActions(ledger.path, running.source, results)
        started.append(actions)
        return running, actions, results

    yield start
    for actions in started:
        actions.stop()


def paid_order(double, running, **kw):
    record = double.pay(**kw)
    wait_until(lambda: str(record["id"]) in running.order_ids(), 10)
    event = next(e for e in running.orders if e.order_id == str(record["id"]))
    return record, event


def ending(ledger, event):
    return ledger.find(event.key).ended_how


def test_accept_confirms_the_order_once_even_on_a_double_click(double, accepting, ledger):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    first, second = actions.accept(event), actions.accept(event)
    assert first.queued and not second.queued and second.key == first.key
    assert ending(ledger, event) == Ending.ACCEPTED_HERE
    assert ledger.unacknowledged_orders() == 0, "accepting also silences it here"
    assert results.wait() == [(str(record["id"]), True, None)]
    assert double.status(record["id"]) == ACCEPTED
    assert [(name, body) for _t, name, body in double.state.actions] == [("confirm", {"id": record["id"]})]
    assert [a[:3] for a in outbox_actions(ledger.path)] == [(first.key, "done", 1)]


def test_reject_sends_the_reason(double, accepting, ledger):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    actions.reject(event, "菜品已售完")
    assert results.wait() == [(str(record["id"]), True, None)]
    assert double.orders[record["id"]]["status"] == CANCELLED
    assert double.orders[record["id"]]["rejectionReason"] == "菜品已售完"
    entry = ledger.find(event.key)
    assert (entry.ended_how, entry.end_reason) == (Ending.REJECTED_HERE, "菜品已售完")


def test_accepting_an_order_the_customer_cancelled_says_so(double, accepting, ledger):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    double.cancel(record["id"])
    actions.accept(event)
    ((order_id, ok, sentence),) = results.wait()
    assert not ok
    # Named by the number the shop sees (the voice and the popup say it), not the internal id.
    assert sentence == f"Order {record['number']} was cancelled; it can no longer be accepted or rejected."
    entry = ledger.find(event.key)
    # The source may hear of the cancellation (its frame) before the refusal comes back; then
    # the history keeps the customer's own reason, else the refusal's sentence: both say why.
    assert entry.ended_how == Ending.CANCELLED and entry.end_reason in (sentence, "用户取消")
    assert [(state, error) for _key, state, _n, error in outbox_actions(ledger.path)] == [("failed", sentence)]
    # The history now says cancelled: another click sends nothing and keeps the history.
    again = actions.accept(event)
    assert (again.queued, again.state, again.ended) == (False, CONTRADICTED, Ending.CANCELLED)
    assert len(outbox_actions(ledger.path)) == 1 and ending(ledger, event) == Ending.CANCELLED


def test_a_click_on_an_order_decided_elsewhere_is_not_sent_and_keeps_the_history(double, accepting, ledger):
    """A stale popup on PC B after PC A accepted: B's history says "accepted elsewhere", so B
    sends neither a reject nor an accept, and "accepted elsewhere" is never rewritten as "here"."""
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    ledger.end_order(event.source, event.server, event.order_id, Ending.ACCEPTED_ELSEWHERE, connection_id="")
    for decide in (lambda: actions.reject(event, "太忙了"), lambda: actions.accept(event)):
        decision = decide()
        assert (decision.queued, decision.state, decision.ended) == (False, CONTRADICTED,
                                                                     Ending.ACCEPTED_ELSEWHERE)
    assert outbox_actions(ledger.path) == []
    assert ending(ledger, event) == Ending.ACCEPTED_ELSEWHERE
    assert [name for _t, name, _body in double.state.actions] == []
    assert results.items == []


def test_a_refusal_because_another_pc_was_first_keeps_the_true_outcome(double, accepting, ledger):
    """PC B rejects before it heard that A accepted: the back end refuses, B's history says
    "accepted elsewhere" (not "acknowledged only"), and the sentence names the order number."""
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    double.accept(record["id"])  # on the admin web page, or PC A
    actions.reject(event, "太忙了")
    ((_order_id, ok, sentence),) = results.wait()
    assert not ok and sentence == f"Order {record['number']} was already accepted elsewhere."
    assert ending(ledger, event) == Ending.ACCEPTED_ELSEWHERE
    assert double.status(record["id"]) == ACCEPTED


def test_a_refusal_without_a_known_cause_is_the_back_ends_own_words(double, accepting):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    with double._lock:
        double.orders[record["id"]]["status"] = 1  # back to unpaid: not waiting, not ended
    actions.accept(event)
    assert results.wait()[0][1:] == (False, "The shop's system refused it: 订单状态错误")


def test_an_expired_token_is_renewed_during_the_accept(double, accepting):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    logins = len(double.state.logins)
    double.revoke_tokens()
    actions.accept(event)
    assert results.wait() == [(str(record["id"]), True, None)]
    assert len(double.state.logins) == logins + 1
    assert double.status(record["id"]) == ACCEPTED


def test_an_accept_while_the_server_is_down_is_sent_when_it_is_back(double, accepting, ledger):
    running, actions, results = accepting()
    record, event = paid_order(double, running)
    double.stop()
    actions.accept(event)
    assert ledger.unacknowledged_orders() == 0, "the alert ends at the click, offline or not"
    wait_until(lambda: actions.worker.status.state is ConnState.WAITING, 10)
    assert actions.outbox.waiting() == 1 and results.items == []
    double.start()
    assert results.wait(timeout=15) == [(str(record["id"]), True, None)]
    assert double.status(record["id"]) == ACCEPTED
    assert len(double.state.actions) == 1


def test_a_click_stored_before_a_crash_is_sent_at_the_next_start(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    record, event = paid_order(double, running)
    # The click reached the disk, then the process died before the worker sent it.
    crashed = ActionOutbox(ledger.path)
    crashed.decide(f"skytakeout:{double.server_label}", event.source, event.server, event.order_id, "accept", connection_id="")
    crashed.close()
    results = Results()
    actions = OrderActions(ledger.path, running.source, results)
    try:
        assert results.wait() == [(str(record["id"]), True, None)]
        assert double.status(record["id"]) == ACCEPTED
    finally:
        actions.stop()


def test_without_an_admin_account_only_acknowledging_is_offered(double, run_source, ledger):
    running = run_source(sky_settings(double))
    actions = OrderActions(ledger.path, running.source)
    assert actions.unavailable == "No admin account configured — this PC can only stop the ringing."
    actions.stop()


def test_orders_handled_elsewhere_stop_ringing_within_one_poll(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.source.status_poll_s = 0.3  # below the setting's 2 s minimum: the test's own pace
    ended = []
    running.intake.on_ended(lambda *args: ended.append(args))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    taken, taken_event = paid_order(double, running)
    gone, _ = paid_order(double, running)
    turned, _ = paid_order(double, running)
    still, still_event = paid_order(double, running)
    double.accept(taken["id"])
    double.cancel(gone["id"], "不想要了")
    double.reject(turned["id"], "太忙")
    changed = time.monotonic()
    wait_until(lambda: len(ended) == 3, 10, message=f"ended: {ended}")
    took = time.monotonic() - changed
    assert took < running.source.status_poll_s + 2.0
    server = double.server_label
    assert sorted(ended) == sorted([
        ("skytakeout", server, str(taken["id"]), Ending.ACCEPTED_ELSEWHERE, None, ""),
        ("skytakeout", server, str(gone["id"]), Ending.CANCELLED, "不想要了", ""),
        ("skytakeout", server, str(turned["id"]), Ending.REJECTED_ELSEWHERE, "太忙", "")])
    assert ledger.find(taken_event.key).ended_how == Ending.ACCEPTED_ELSEWHERE
    assert ledger.ringing_order_ids("skytakeout", server, connection_id="") == [str(still["id"])]
    # Once nothing rings, the poll stops (the slow catch-up pull has its own 180 s pace).
    ledger.acknowledge([ledger.find(still_event.key).id])
    wait_until(lambda: ledger.unacknowledged_orders() == 0, 5)
    time.sleep(0.2)  # a poll already under way may finish
    searches = double.state.search_requests
    time.sleep(3 * running.source.status_poll_s)
    assert double.state.search_requests == searches


def test_the_details_are_kept_in_the_ledger(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    record, event = paid_order(double, running, amount="88.00", remark="少辣")
    wait_until(lambda: ledger.find(event.key).event.details, 5)
    details = ledger.find(event.key).event.details
    assert details.remark == "少辣" and details.items[0].name == "宫保鸡丁"
    entry = ledger.find(event.key)
    assert str(entry.event.amount) == "88.00"  # the orders window shows what the details said


def test_an_accept_on_the_wire_when_the_app_died_is_not_reported_as_refused(double, run_source, ledger):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    record, event = paid_order(double, running)
    crashed = ActionOutbox(ledger.path)
    crashed.decide(f"skytakeout:{double.server_label}", event.source, event.server, event.order_id, "accept", connection_id="")
    crashed.mark_sending(crashed.next_action(f"skytakeout:{double.server_label}").id)
    double.accept(record["id"])  # the request had reached the back end; its answer was lost
    crashed.close()
    results = Results()
    actions = OrderActions(ledger.path, running.source, results)
    try:
        assert results.wait() == [(str(record["id"]), True, None)]
        assert ledger.find(event.key).ended_how == Ending.ACCEPTED_HERE
        assert [(name, body) for _t, name, body in double.state.actions] == [("confirm", {"id": record["id"]})]
    finally:
        actions.stop()


def test_two_workers_on_one_outbox_send_each_action_once(double, run_source, ledger):
    """What happens for a moment when the settings change: the old worker still runs beside the
    new one."""
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    events = [paid_order(double, running)[1] for _ in range(10)]
    outbox = ActionOutbox(ledger.path)
    results = Results()
    old = OrderActions(ledger.path, running.source, results, outbox=outbox)
    new = OrderActions(ledger.path, running.source, results, outbox=outbox)
    try:
        for n, event in enumerate(events):
            (old if n % 2 else new).accept(event)
        results.wait(10)
        assert sorted(body["id"] for _t, _name, body in double.state.actions) == sorted(
            int(e.order_id) for e in events)
        assert all(ok for _id, ok, _s in results.items)
    finally:
        old.stop()
        new.stop()
        outbox.close()
