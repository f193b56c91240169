"""The order's life after 接单 on the reference server: 派送, 完成 and the shop's own 取消 (with a
reason), each a decision a PC posts with the shop's client token, allowed only from the right
state (the table below, written out here on purpose: a change to order_states.py must change
it too), streamed to every PC of the shop and called back, signed, to the shop's back end.
Real servers on both stores (two gateways on one redis-server), real streams, a real back end."""

from __future__ import annotations

import json
import threading
import time

import websocket
from helpers import free_port, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import post_json
from test_callback_deliveries import Receiver

from notifier.core import protocol
from notifier.server.store import Appending

BOTH_STORES = True

# What each decision (and the customer's cancellation, the order system's event) does from
# each state: the state it leads to, or None for a 409.
EXPECTED: dict[str, dict[str, str | None]] = {
    "open": {"accept": "accepted", "reject": "rejected", "deliver": None, "complete": None, "cancel": None,
             "customer_cancels": "cancelled"},
    "accepted": {"accept": None, "reject": None, "deliver": "out_for_delivery", "complete": "completed",
                 "cancel": "cancelled_by_shop", "customer_cancels": "cancelled"},
    "out_for_delivery": {"accept": None, "reject": None, "deliver": None, "complete": "completed",
                         "cancel": "cancelled_by_shop", "customer_cancels": "cancelled"},
    "completed": {"accept": None, "reject": None, "deliver": None, "complete": None, "cancel": None,
                  "customer_cancels": None},
    "rejected": dict.fromkeys(("accept", "reject", "deliver", "complete", "cancel", "customer_cancels")),
    "cancelled": dict.fromkeys(("accept", "reject", "deliver", "complete", "cancel", "customer_cancels")),
    "cancelled_by_shop": dict.fromkeys(("accept", "reject", "deliver", "complete", "cancel", "customer_cancels")),
}
# How to bring a new order into each state.
PATHS = {"open": [], "accepted": ["accept"], "out_for_delivery": ["accept", "deliver"],
         "completed": ["accept", "complete"], "rejected": ["reject"], "cancelled": ["customer_cancels"],
         "cancelled_by_shop": ["accept", "cancel"]}
ACTIONS = ("accept", "reject", "deliver", "complete", "cancel", "customer_cancels")


def act(server, order_id: str, action: str, *, base: str | None = None, reason: str | None = "买家联系不上",
        key: str | None = None) -> tuple[int, dict]:
    """One step: a PC's decision through `base` (a gateway), or the order system's cancellation."""
    if action == "customer_cancels":
        return 201, server.publish(order_id=order_id, kind="cancelled")
    body = json.dumps({"reason": reason} if reason and action in ("cancel", "reject") else {}).encode()
    status, answer, _ = post_json(f"{base or server.http_url}/api/v1/shops/alpha/orders/{order_id}/{action}",
                                  server.shops["alpha"].client_token, body, key=key)
    return status, answer


def state_of(server, order_id: str) -> str:
    """The order's state as the store holds it, asked of the server: an accept is refused with
    the state as its outcome (and succeeds only for an open order; the last thing a test asks)."""
    status, answer = act(server, order_id, "accept")
    return "open" if status == 201 else answer["outcome"]


def test_every_action_from_every_state_is_allowed_or_refused_by_the_table(gateways):
    server = gateways[0]
    n = 0
    for state, path in PATHS.items():
        for action in ACTIONS:
            n += 1
            order = f"t{n}"
            server.publish(order_id=order, amount="10.00")
            for step in path:
                assert act(server, order, step)[0] == 201, (state, step)
            status, answer = act(server, order, action, base=gateways[n % len(gateways)].http_url)
            expected = EXPECTED[state][action]
            if action == "customer_cancels":
                continue  # a fact, always stored; what it did shows in the next order's refusals
            if expected is None:
                assert status == 409, (state, action, answer)
                assert answer["outcome"] == state and answer["order_id"] == order
                assert answer["message"].startswith(f"order {order} ")
            else:
                assert status == 201, (state, action, answer)
    # The customer's cancellation moved the state only where the table allows: a reject after
    # it is refused with the state it left.
    for n, state in enumerate(PATHS, start=100):
        order = f"c{n}"
        server.publish(order_id=order)
        for step in PATHS[state]:
            act(server, order, step)
        act(server, order, "customer_cancels")
        after = EXPECTED[state]["customer_cancels"] or state
        status, answer = act(server, order, "reject")
        assert (status, answer.get("outcome")) == (409 if after != "open" else 201, after if after != "open" else None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(ACTIONS), max_size=6))
def test_any_sequence_of_steps_ends_where_the_table_says(gateways, steps):
    server = gateways[0]
    order = f"h{time.monotonic_ns()}"
    server.publish(order_id=order)
    state = "open"
    for i, step in enumerate(steps):
        status, answer = act(server, order, step, base=gateways[i % len(gateways)].http_url)
        expected = EXPECTED[state][step]
        if step != "customer_cancels":
            assert status == (201 if expected else 409), (state, step, answer)
            if expected is None:
                assert answer["outcome"] == state
        state = expected or state
    assert state_of(server, order) == state


def test_cancel_needs_a_reason_and_a_refused_step_is_stored_nowhere(server):
    server.publish(order_id="50")
    assert act(server, "50", "accept")[0] == 201
    status, answer = act(server, "50", "cancel", reason=None)
    assert status == 400 and answer["error"] == "bad_reason" and "required" in answer["message"]
    before = server.store.shop("alpha").last_seq
    status, answer = act(server, "51", "deliver")  # never accepted
    assert (status, answer["error"], answer["outcome"]) == (409, "not_accepted", "open")
    assert "not accepted yet" in answer["message"]
    assert server.store.shop("alpha").last_seq == before, "nothing stored"


class Stream:
    """A PC's stream (a real WebSocket) read on a thread: every frame it got, in order."""

    def __init__(self, server, base_ws: str | None = None):
        url = (base_ws or server.url) + protocol.stream_path("alpha", 0)
        self.ws = websocket.create_connection(url, header=[f"Authorization: Bearer {server.shops['alpha'].client_token}"],
                                              timeout=10)
        self.frames: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                self.frames.append(json.loads(self.ws.recv()))
        except Exception:  # noqa: BLE001 - closed at the end of the test
            return

    def kinds(self, order_id: str | None = None) -> list[str]:
        return [f["event"]["kind"] for f in self.frames if f.get("type") == "event"
                and (order_id is None or f["event"].get("order_id") == order_id)]

    def close(self) -> None:
        self.ws.close()


def test_each_step_reaches_every_pc_and_the_back_end_hears_it_signed(gateways):
    server = gateways[0]
    receiver = Receiver(free_port(), server.shops["alpha"].ingest_secret)
    server.store.set_callback("alpha", receiver.url)
    streams = [Stream(server, g.url) for g in (gateways[0], gateways[-1])]
    try:
        server.publish(order_id="61", amount="30.00")
        server.publish(order_id="62", amount="12.00")
        answers = [act(server, "61", step, base=gateways[i % len(gateways)].http_url)
                   for i, step in enumerate(("accept", "deliver", "complete"))]
        answers += [act(server, "62", "accept"), act(server, "62", "cancel", reason="骑手无法配送")]
        assert [status for status, _ in answers] == [201] * 5
        for stream in streams:  # every PC sees every step, in order, whichever gateway took it
            wait_until(lambda s=stream: s.kinds("61")[-3:] == ["accepted", "out_for_delivery", "completed"]
                       and s.kinds("62")[-2:] == ["accepted", "cancelled_by_shop"], 10,
                       message="every step streamed")
            decision = protocol.decision_from_frame(next(f for f in stream.frames if f.get("type") == "event"
                                                         and f["event"]["kind"] == "cancelled_by_shop"))
            assert (decision.order_id, decision.reason) == ("62", "骑手无法配送")
        ids = {answer["event_id"]: answer for _, answer in answers}
        wait_until(lambda: set(receiver.delivered()) >= set(ids), 15, message="every step called back")
        assert receiver.bad_signatures == 0
        bodies = receiver.bodies
        assert [bodies[a["event_id"]]["kind"] for _, a in answers] == [
            "accepted", "out_for_delivery", "completed", "accepted", "cancelled_by_shop"]
        assert bodies[answers[-1][1]["event_id"]]["reason"] == "骑手无法配送"
    finally:
        for stream in streams:
            stream.close()
        receiver.close()


def test_two_pcs_completing_at_once_one_wins(gateways):
    server = gateways[0]
    server.publish(order_id="70")
    act(server, "70", "accept")
    start = threading.Barrier(2)
    results: list[tuple[int, dict]] = []

    def one(base: str) -> None:
        start.wait()
        results.append(act(server, "70", "complete", base=base))

    threads = [threading.Thread(target=one, args=(g.http_url,)) for g in (gateways[0], gateways[-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in results) == [201, 409]
    lost = next(answer for status, answer in results if status == 409)
    assert (lost["error"], lost["outcome"]) == ("already_decided", "completed")


def test_the_store_refuses_a_step_the_table_does_not_allow_even_in_one_batch(store_location):
    """Two decisions of one order in one group-commit batch: the second sees the first's state."""
    store = store_location.open()
    store.add_shop("solo")

    def decision(kind: str, nonce: str) -> Appending:
        event = {"kind": kind, "order_id": "9", "text": None, "occurred_at": None}
        return Appending("solo", event, nonce * 16, None, kind.encode(), callback=True)

    first, second, third = store.append_many([decision("accepted", "a"), decision("completed", "b"),
                                              decision("out_for_delivery", "c")])
    assert not first.outcome and not second.outcome
    assert third.outcome == "completed" and third.seq == second.seq
