"""One decision per order: the first accept or reject wins, atomically (two PCs racing, two
gateways racing on one Redis); every later one, and any after the customer cancelled, is
answered 409 with what the order became, and the shop's back end hears exactly the winner.
Decisions' Idempotency-Keys and the order system's are separate spaces. Real servers on both
stores, a real back end, the desktop's real sender for the 409."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import free_port, wait_until
from test_callback_deliveries import Receiver
from test_callback_deliveries import decide as decide_as

from notifier.core.action_outbox import OrderAction
from notifier.core.action_worker import ActionRefused
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.notifier_stream import NotifierStreamActions

BOTH_STORES = True


def decide(base: str, token: str, order_id: str, action: str = "accept", key: str | None = None,
           shop: str = "alpha") -> tuple[int, dict]:
    return decide_as(base, shop, token, order_id, action=action, key=key)


def test_accept_and_reject_racing_for_one_order_one_wins_and_the_back_end_hears_only_it(gateways):
    server = gateways[0]
    token = server.shops["alpha"].client_token
    receiver = Receiver(free_port(), server.shops["alpha"].ingest_secret)
    server.store.set_callback("alpha", receiver.url)
    bases = [g.http_url for g in gateways]
    winners: dict[str, tuple[str, int]] = {}
    try:
        with ThreadPoolExecutor(2) as pool:
            for race in range(20):
                order = f"r{race}"
                start = threading.Barrier(2)

                def one(action: str, base: str, order=order, start=start):
                    start.wait()
                    return action, decide(base, token, order, action)

                answers = list(pool.map(one, ("accept", "reject"), (bases[0], bases[-1])))
                won = [(action, body) for action, (status, body) in answers if status == 201]
                lost = [body for _action, (status, body) in answers if status == 409]
                assert len(won) == 1 and len(lost) == 1, f"race {race}: {answers}"
                kind = "accepted" if won[0][0] == "accept" else "rejected"
                assert lost[0]["error"] == "already_decided" and lost[0]["outcome"] == kind
                assert lost[0]["order_id"] == order and lost[0]["seq"] == won[0][1]["seq"]
                assert f"already {kind} on another PC" in lost[0]["message"]
                winners[won[0][1]["event_id"]] = (kind, won[0][1]["seq"])
        wait_until(lambda: set(receiver.delivered()) >= set(winners), 15, interval=0.05,
                   message="the winners called back")
        time.sleep(0.5)  # room for a loser's callback to show up, which must not
        assert set(receiver.delivered()) == set(winners), "the back end heard exactly the winners"
        decisions = [e for _s, _a, e in server.store.events_after("alpha", 0, 1000) if e["kind"] in ("accepted", "rejected")]
        assert len(decisions) == 20, "the losers were stored nowhere"
    finally:
        receiver.close()


def test_a_decision_after_the_customer_cancelled_is_refused(server):
    token = server.shops["alpha"].client_token
    cancel = server.publish(order_id="88", kind="cancelled")
    status, body = decide(server.http_url, token, "88", "accept")
    assert status == 409
    assert (body["error"], body["outcome"], body["seq"], body["order_id"]) == ("order_cancelled", "cancelled",
                                                                               cancel["seq"], "88")
    assert "cancelled by the customer" in body["message"]
    # Accepted, then the customer cancels (a fact, always stored): a later reject says cancelled.
    assert decide(server.http_url, token, "89", "accept")[0] == 201
    later = server.publish(order_id="89", kind="cancelled")
    status, body = decide(server.http_url, token, "89", "reject")
    assert (status, body["outcome"], body["seq"]) == (409, "cancelled", later["seq"])


def test_a_retry_with_the_same_key_is_a_duplicate_another_key_is_refused(server):
    token = server.shops["alpha"].client_token
    status, first = decide(server.http_url, token, "90", "accept", key="pc1-click-1")
    assert status == 201
    assert decide(server.http_url, token, "90", "accept", key="pc1-click-1") == (200, dict(first, duplicate=True))
    status, again = decide(server.http_url, token, "90", "accept", key="pc2-click-7")
    assert (status, again["outcome"], again["seq"]) == (409, "accepted", first["seq"])


def test_a_pcs_idempotency_key_never_blocks_the_order_systems(server):
    token = server.shops["alpha"].client_token
    assert decide(server.http_url, token, "777", "accept", key="ord-777-paid")[0] == 201
    stored = server.publish(order_id="777", idempotency_key="ord-777-paid")
    assert stored["duplicate"] is False, "the order system's event went in"
    # And the other way round: an order system's key is no PC's duplicate.
    server.publish(order_id="778", idempotency_key="ord-778-click")
    status, body = decide(server.http_url, token, "778", "reject", key="ord-778-click")
    assert status == 201 and body["duplicate"] is False


def test_the_pc_that_lost_is_told_what_the_order_became(server):
    token = server.shops["alpha"].client_token
    assert decide(server.http_url, token, "91", "reject")[0] == 201
    server.publish(order_id="92", kind="cancelled")
    sender = NotifierStreamActions(Settings({"connection.protocol": "notifier", "connection.url": server.url,
                                             "connection.shop": "alpha"}),
                                   MemorySecrets({"notifier_token": token}), "test")
    for order, outcome, sentence in (("91", "rejected", "Already rejected on another PC."),
                                     ("92", "cancelled", "Cancelled by the customer.")):
        with pytest.raises(ActionRefused) as refused:
            sender.send(OrderAction(1, f"k-{order}", "notifier", "notifier", server.url, order, "accept", None,
                                    False, 0, time.time()))
        assert refused.value.outcome == outcome
        assert str(refused.value) == sentence
