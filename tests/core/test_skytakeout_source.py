"""The sky-take-out source against the test double on 127.0.0.1: live frames, bad frames, new sids,
reconnects, the admin pull, token expiry and a wrong password."""

from __future__ import annotations

import json
import logging
import random
import time

from aiohttp import WSMsgType

from notifier.core.connection import ConnState
from notifier.core.events import OrderKind
from notifier.core.sources import skytakeout
from tests.fakes.running_source import sky_settings
from tests.fakes.util import wait_until


def test_paid_orders_and_reminders_become_events(double, run_source):
    running = run_source(sky_settings(double))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    paid = double.pay()
    double.remind(paid["id"])
    double.send_text(json.dumps({"content": "订单号：99", "orderId": 77, "type": 1}))  # other key order
    orders = running.wait_orders(3)
    assert [(e.kind, e.order_id) for e in orders] == [
        (OrderKind.NEW_ORDER, str(paid["id"])), (OrderKind.REMINDER, str(paid["id"])), (OrderKind.NEW_ORDER, "77")]
    assert orders[0].order_number == paid["number"] and orders[2].order_number == "99"
    assert orders[0].server == double.server_label
    assert running.ledger.count() == 3


def test_bad_frames_are_skipped_and_the_next_order_still_arrives(double, run_source):
    running = run_source(sky_settings(double))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    double.send_text("这是来自服务端的消息：12:00:05")  # the real server's demo task
    double.send_text('{"type":9,"orderId":1}')  # unknown type
    double.send_text('{"type":"one","orderId":[1]}')  # wrong field types
    double.send_text('{"type":1,"orderId":1,"content":"' + "x" * (2 * 1024 * 1024) + '"}')  # 2 MiB
    double.send_text('{"a":' * 50_000 + "1" + "}" * 50_000)  # deep nesting
    double.send_raw(b'{"type":1,"orderId":5,"content":"\xff\xfe"}')  # invalid UTF-8 in a text frame
    double.send_raw(b"\x00\x01binary", WSMsgType.BINARY)
    paid = double.pay()
    (event,) = running.wait_orders(1)
    assert event.order_id == str(paid["id"])
    assert running.source.connections == 1  # none of it cost the connection
    assert running.state is ConnState.CONNECTED


def test_random_frames_through_a_real_connection_then_a_good_order(double, run_source):
    running = run_source(sky_settings(double))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    rng = random.Random(20240501)
    pieces = ['{"type":', "1", "2", '"orderId":', "null", "[", "]", "{", "}", ",", '"content":"订单号：1"',
              "\\u0000", "true", "1e999", "-0", '"', ":"]
    for _ in range(300):
        if rng.random() < 0.3:
            double.send_raw(rng.randbytes(rng.randint(0, 300)))
        else:
            double.send_text("".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))))
    paid = double.pay()
    wait_until(lambda: str(paid["id"]) in running.order_ids(), 10)
    assert running.source.connections == 1
    assert all(e.kind in (OrderKind.NEW_ORDER, OrderKind.REMINDER) for e in running.orders)


def test_every_connection_attempt_uses_a_new_sid(double, run_source):
    running = run_source(sky_settings(double))
    for attempt in range(1, 5):
        wait_until(lambda a=attempt: running.source.connections == a and double.client_count == 1, 10)
        running.source.reconnect_now()
    wait_until(lambda: len(double.state.sids) >= 5, 10)
    sids = double.state.sids
    assert len(set(sids)) == len(sids) >= 5
    assert all(len(sid) >= 16 for sid in sids)
    urls = running.source.attempted_urls
    assert len(set(urls)) == len(urls)


def test_server_back_after_5_s_orders_paid_meanwhile_are_recovered_once(double, run_source):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    double.wait_for_clients()
    live = double.pay()
    wait_until(lambda: running.order_ids() == [str(live["id"])], 10)
    double.stop()
    running.wait_state(ConnState.WAITING, 5)
    time.sleep(5)  # the outage itself is what this test is about
    missed = [double.new_order(consignee=f"客人{n}") for n in range(3)]  # paid while we were away
    double.start()
    back_at = time.monotonic()
    running.wait_state(ConnState.CONNECTED, 3)
    reconnect_s = time.monotonic() - back_at
    wanted = {str(live["id"])} | {str(r["id"]) for r in missed}
    wait_until(lambda: set(running.order_ids()) == wanted, 10)
    assert sorted(running.order_ids()) == sorted(wanted)  # each once, the live one not again
    recovered = {e.order_id: e for e in running.orders}
    assert recovered[str(missed[0]["id"])].customer == "客人0"
    assert recovered[str(missed[0]["id"])].amount is not None
    print(f"reconnected {reconnect_s:.2f} s after the server came back")


def test_an_order_seen_live_and_by_the_pull_is_announced_once(double, run_source):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    wait_until(lambda: running.source.pulls >= 1, 10)
    double.wait_for_clients()
    paid = double.pay(amount="88.80", consignee="王五")
    (event,) = running.wait_orders(1)
    rich = running.wait_details(str(paid["id"]))  # the details follow the stored order
    assert rich.amount is not None and str(rich.amount) == "88.80"
    assert rich.customer == "王五"
    assert running.source.pull_once() == 0
    running.source.reconnect_now()  # a reconnect pulls again
    wait_until(lambda: running.source.pulls >= 3, 10)
    assert running.order_ids() == [str(paid["id"])]


def test_a_new_order_is_stored_and_told_before_its_slow_details_answer(double, run_source):
    running = run_source(sky_settings(double, admin=True))
    running.wait_state(ConnState.CONNECTED)
    wait_until(lambda: running.source.pulls >= 1, 10)
    double.wait_for_clients()
    double.details_delay = 1.0
    started = time.monotonic()
    paid = double.pay(amount="42.00", consignee="钱七")
    (event,) = running.wait_orders(1)
    told_after = time.monotonic() - started
    assert told_after < 0.5, f"the order waited {told_after:.2f} s for its details"
    assert event.amount is None  # what the frame had
    rich = running.wait_details(str(paid["id"]), 5)
    assert str(rich.amount) == "42.00" and rich.customer == "钱七"
    assert str(running.ledger.find(event.key).event.amount) == "42.00"


def test_expired_admin_token_means_a_quiet_new_login_and_no_missed_order(run_source):
    from tests.fakes.skytakeout_server import SkyTakeOutDouble

    with SkyTakeOutDouble(token_lifetime=0.5) as double:
        running = run_source(sky_settings(double, admin=True))
        running.wait_state(ConnState.CONNECTED)
        wait_until(lambda: running.source.pulls >= 1, 10)
        double.wait_for_clients()
        first = double.pay()
        wait_until(lambda: running.order_ids() == [str(first["id"])], 10)
        time.sleep(0.6)  # let the token expire
        second = double.pay(consignee="赵六")
        wait_until(lambda: str(second["id"]) in running.order_ids(), 10)
        assert running.wait_details(str(second["id"])).customer == "赵六"  # with a fresh token
        # Orders paid while disconnected, with the token expired again, still come back.
        double.stop()
        running.wait_state(ConnState.WAITING, 5)
        missed = double.new_order()
        time.sleep(0.6)
        double.start()
        wait_until(lambda: str(missed["id"]) in running.order_ids(), 10)
        assert sorted(running.order_ids()) == sorted(str(r["id"]) for r in (first, second, missed))
        assert double.state.unauthorized_requests >= 2
        assert all(a.ok for a in double.state.logins) and len(double.state.logins) >= 3
        assert running.state is ConnState.CONNECTED


def test_wrong_admin_password_is_a_clear_state_with_slow_retries(double, run_source, caplog):
    caplog.set_level(logging.DEBUG)
    running = run_source(sky_settings(double, admin=True), password="wrong")
    status = running.wait_state(ConnState.UNAUTHORIZED)
    assert status.sentence() == f"Wrong password or token for {double.server_label}. Check it in Settings."
    assert "密码错误" in status.detail
    double.wait_for_clients()
    # Live orders keep coming; reconnects and new orders do not hammer the login.
    for _ in range(3):
        double.pay()
    running.wait_orders(3)
    for attempt in range(2, 5):
        running.source.reconnect_now()
        wait_until(lambda a=attempt: running.source.connections == a, 10)
    running.wait_state(ConnState.UNAUTHORIZED)
    assert len(double.state.logins) == 1 and not double.state.logins[0].ok
    assert all(r.exc_info is None for r in caplog.records)
    assert "wrong" not in caplog.text  # the password never reaches the logs
    # After the pause the password is tried again, and a fixed password recovers the state.
    double.password = "wrong"
    running.source.admin._refused_at -= skytakeout.LOGIN_RETRY_S
    assert running.source.pull_once() == 0
    wait_until(lambda: running.state is ConnState.CONNECTED, 5)
    assert len(double.state.logins) == 2 and double.state.logins[-1].ok


def test_no_admin_password_saved_says_so(double, run_source):
    running = run_source(sky_settings(double, admin=True), password=None)
    status = running.wait_state(ConnState.UNAUTHORIZED)
    assert "no admin password saved" in status.detail
    assert double.state.logins == []
