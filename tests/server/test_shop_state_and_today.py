"""营业 / 打烊 and the day's figures on the reference server, on both stores (two gateways on
one redis-server): a PC closes the shop, every PC sees it, the back end is called back, orders
that come meanwhile are still stored and streamed but say the shop was closed; the day's
takings, valid orders, average order and orders by state come from the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import free_port, wait_until
from server_helpers import post_json, start_server
from test_callback_deliveries import Receiver
from test_migrate import migrate
from test_order_lifecycle import Stream, act

from notifier.core import protocol
from notifier.core.protocol import PublishError
from notifier.server.redis_store import RedisEventStore
from notifier.server.store import Appending, EventStore

BOTH_STORES = True


def token(server) -> str:
    return server.shops["alpha"].client_token


def test_closing_reaches_every_pc_and_the_back_end_and_orders_still_arrive_marked(gateways):
    first, last = gateways[0], gateways[-1]
    receiver = Receiver(free_port(), first.shops["alpha"].ingest_secret)
    first.store.set_callback("alpha", receiver.url)
    streams = [Stream(first, g.url) for g in (first, last)]
    try:
        assert protocol.shop_status(last.http_url, "alpha", token(first))["status"] == "open"
        closed = protocol.set_shop_open(first.http_url, "alpha", token(first), False, idempotency_key="pc1-close")
        assert (closed["status"], closed["changed"]) == ("closed", True)
        # Another PC reads it through the other gateway; closing again stores nothing.
        assert protocol.shop_status(last.http_url, "alpha", token(first)) == {
            "shop": "alpha", "status": "closed", "seq": closed["seq"]}
        # A PC that connects now is told in its hello.
        joining = Stream(first, last.url)
        streams.append(joining)
        hello = wait_until(lambda: next((f for f in joining.frames if f.get("type") == "hello"), None), 10,
                           message="hello")
        assert hello["shop_status"] == "closed"
        again = protocol.set_shop_open(last.http_url, "alpha", token(first), False)
        assert (again["status"], again["changed"], again["seq"]) == ("closed", False, closed["seq"])
        # A retried click is the first answer, not a second event.
        retried = protocol.set_shop_open(first.http_url, "alpha", token(first), False, idempotency_key="pc1-close")
        assert (retried["seq"], retried["duplicate"]) == (closed["seq"], True)
        # An order while closed: stored (201), streamed, marked beside the event.
        stored = first.publish(order_id="300", amount="20.00")
        assert stored["duplicate"] is False
        opened = protocol.set_shop_open(last.http_url, "alpha", token(first), True)
        after = first.publish(order_id="301", amount="20.00")
        for stream in streams:
            wait_until(lambda s=stream: s.kinds() == ["shop_closed", "new_order", "shop_opened", "new_order"], 10,
                       message="every PC saw the shop close, the order, the shop open, the next order")
            frames = {f["seq"]: f for f in stream.frames if f.get("type") == "event"}
            assert protocol.arrived_while_closed(frames[stored["seq"]])
            assert not protocol.arrived_while_closed(frames[after["seq"]])
            # The order itself is untouched: a client that knows nothing of the mark reads it.
            event = protocol.event_from_frame(frames[stored["seq"]], server="t")
            assert (event.order_id, str(event.amount)) == ("300", "20.00")
            shop_change = protocol.decision_from_frame(frames[closed["seq"]])
            assert (shop_change.kind, shop_change.order_id) == ("shop_closed", None)
        # A PC that resumes later gets the mark too (from the log, not the live fan-out).
        late = Stream(first, last.url)
        streams.append(late)
        wait_until(lambda: len(late.kinds()) == 4, 10, message="replayed")
        assert late.frames[0]["type"] == "hello" and late.frames[0]["shop_status"] == "open"
        assert [protocol.arrived_while_closed(f) for f in late.frames if f.get("type") == "event"] == [
            False, True, False, False]
        wait_until(lambda: set(receiver.delivered()) >= {closed["event_id"], opened["event_id"]}, 15,
                   message="the back end heard the shop close and open")
        assert receiver.bad_signatures == 0
        assert [receiver.bodies[closed["event_id"]]["kind"], receiver.bodies[opened["event_id"]]["kind"]] == [
            "shop_closed", "shop_opened"]
        assert receiver.bodies[closed["event_id"]]["order_id"] is None
    finally:
        for stream in streams:
            stream.close()
        receiver.close()


def test_shop_requests_need_the_shops_token_and_a_clean_body(server):
    with pytest.raises(PublishError) as wrong:
        protocol.set_shop_open(server.http_url, "alpha", server.shops["beta"].client_token, False)
    assert wrong.value.status == 401
    with pytest.raises(PublishError) as nobody:
        protocol.shop_status(server.http_url, "alpha", "not-a-token")
    assert nobody.value.status == 401
    status, answer, _ = post_json(f"{server.http_url}/api/v1/shops/alpha/close", token(server),
                                  json.dumps({"reason": "下班"}).encode())
    assert (status, answer["error"], answer["field"]) == (400, "invalid_decision", "reason")
    assert protocol.shop_status(server.http_url, "alpha", token(server))["status"] == "open", "nothing changed"


def test_todays_figures_from_the_store(gateways):
    server = gateways[0]
    for order, amount in (("1", "30.00"), ("2", "12.50"), ("3", "20.00"), ("4", "8.00"), ("5", "99.00"),
                          ("6", "10.00")):
        server.publish(order_id=order, amount=amount)
    act(server, "1", "accept")                                   # accepted: taken
    act(server, "2", "accept")
    act(server, "2", "deliver")                                  # out for delivery: taken
    act(server, "3", "accept")
    act(server, "3", "complete")                                 # completed: taken
    act(server, "4", "reject")                                   # rejected
    act(server, "5", "accept")
    act(server, "5", "cancel", reason="缺货")                    # cancelled by the shop
    server.publish(order_id="99", kind="reminder")               # not an order of today's count
    protocol.set_shop_open(server.http_url, "alpha", token(server), False)
    server.publish(order_id="7", amount="5.00")                  # open, arrived while closed
    for gateway in gateways:
        day = protocol.today_figures(gateway.http_url, "alpha", token(server), tz="Asia/Shanghai")
        assert day["date"] == datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
        assert (day["orders"], day["valid_orders"], day["takings"], day["average_order"]) == (7, 3, "62.50", "20.83")
        assert day["by_state"] == {"open": 2, "accepted": 1, "out_for_delivery": 1, "completed": 1, "rejected": 1,
                                   "cancelled": 0, "cancelled_by_shop": 1}
        assert (day["completion_rate"], day["arrived_while_closed"], day["complete"]) == (round(1 / 7, 4), 1, True)
    # Yesterday (in that zone) had none of them.
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
    before = protocol.today_figures(server.http_url, "alpha", token(server), date=yesterday.isoformat(),
                                    tz="Asia/Shanghai")
    assert (before["orders"], before["takings"], before["average_order"]) == (0, "0.00", None)


def test_a_bad_day_or_zone_is_a_sentence(server):
    for query, field in ((dict(tz="Mars/Olympus"), "tz"), (dict(tz="../etc/passwd"), "tz"),
                         (dict(date="2026-13-01"), "date"), (dict(date="yesterday"), "date"),
                         (dict(date=(datetime.now(UTC) + timedelta(days=3)).date().isoformat()), "date")):
        with pytest.raises(PublishError) as refused:
            protocol.today_figures(server.http_url, "alpha", token(server), **query)
        assert (refused.value.status, refused.value.field) == (400, field), query
        message = refused.value.answer["message"]
        assert len(message.split()) >= 4 and "Traceback" not in message, message


def test_a_day_past_the_retention_says_it_is_not_complete(make_server):
    server = make_server(retention_days=1)
    old = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    day = protocol.today_figures(server.http_url, "alpha", token(server), date=old, tz="UTC")
    assert day["complete"] is False


def test_a_closed_shop_stays_closed_when_it_moves_to_redis_and_back(tmp_path, redis_server):
    """SQLite -> Redis -> SQLite with `notifier server migrate`: the shop is still closed, with the
    event that closed it, so an order after the move is still marked."""
    with redis_server.client() as client:
        client.flushall()
    server = start_server(tmp_path / "old", shops=("alpha",))
    closed = protocol.set_shop_open(server.http_url, "alpha", token(server), False)
    server.thread.stop()
    server.store.close()
    moved = migrate(tmp_path / "old", redis_server.url)
    assert moved.returncode == 0, moved.stderr
    redis_store = RedisEventStore.from_url(redis_server.url)
    try:
        assert redis_store.shop_status("alpha") == ("closed", closed["seq"])
    finally:
        redis_store.close()
    back = migrate(tmp_path / "back", redis_server.url, back=True)
    assert back.returncode == 0, back.stderr
    store = EventStore(tmp_path / "back")
    try:
        assert store.shop_status("alpha") == ("closed", closed["seq"])
    finally:
        store.close()


def test_the_desktop_source_still_gets_an_order_that_came_while_the_shop_was_closed(server, make_client):
    """The app's own stream source (which knows nothing of the mark): the order reaches its
    ledger like any other, and the shop's closing and opening ring nothing."""
    from notifier.core.connection import ConnState

    client = make_client(server)
    client.wait_state(ConnState.CONNECTED)
    protocol.set_shop_open(server.http_url, "alpha", token(server), False)
    server.publish(order_id="500", amount="9.90")
    protocol.set_shop_open(server.http_url, "alpha", token(server), True)
    server.publish(order_id="501")
    protocol.set_shop_open(server.http_url, "alpha", token(server), False)
    server.publish(order_id="502")  # after every shop event: had one been taken for an order, it is before this
    orders = client.wait_orders(3)
    assert [o.order_id for o in orders] == ["500", "501", "502"] and str(orders[0].amount) == "9.90"


def test_reading_a_days_events_back_a_page_at_a_time_on_redis(redis_server):
    """Redis only: events_since reads the log backwards in pages until one before the day; SQLite
    answers it with one query (covered by the figures tests above)."""
    now = [100.0]
    with redis_server.client() as client:
        client.flushall()
    store = RedisEventStore.from_url(redis_server.url, clock=lambda: now[0])
    try:
        store.add_shop("paged")
        for n in range(10):
            now[0] = 100.0 + n
            store.append_many([Appending("paged", {"kind": "new_order", "order_id": str(n)}, f"nonce-{n:012d}",
                                         None, b"x")])
        assert [seq for seq, _at, _e in store.events_since("paged", 105.0, page=3)] == [6, 7, 8, 9, 10]
        assert [seq for seq, _at, _e in store.events_since("paged", 0.0, page=3)] == list(range(1, 11))
        assert store.events_since("paged", 200.0, page=3) == []
    finally:
        store.close()
