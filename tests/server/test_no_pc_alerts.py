"""The reference server tells a shop's owner when orders arrive and no PC of the shop is there:
a real server (SQLite and Redis), real PC clients, real Apprise sends to the vendor doubles of
tests/fakes/phone_services.py on 127.0.0.1, with seconds made short by the test's config."""

from __future__ import annotations

import time

import pytest
from test_store_and_cli import run_notifier

from notifier.core import protocol
from notifier.core.connection import ConnState
from notifier.server.app import NO_PC
from notifier.server.no_pc_state import alert_state_for
from tests.fakes.phone_services import PhoneServices
from tests.helpers import wait_until

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)

ABSENT_S = 0.4
FAST = {"no_pc_after_s": ABSENT_S, "no_pc_tick_s": 0.05, "no_pc_targets_every_s": 0.05, "alert_retry_s": 0.05}


@pytest.fixture
def phones():
    """Two vendor doubles: the second stands for another shop's service (one that hangs)."""
    with PhoneServices() as first, PhoneServices() as second:
        yield first, second


@pytest.fixture
def phone(phones):
    return phones[0]


def set_alert(server, shop: str, target: str) -> None:
    """Set the target as `set-alert` does, and wait until the server watches the shop."""
    alert_state_for(server.store).set_target(shop, target)
    wait_until(lambda: server.thread.app[NO_PC].watching(shop), message=f"{shop} watched")


def titles(double: PhoneServices) -> list[str]:
    return [request.json()["title"] for request in double.requests]


def test_an_order_with_no_pc_is_alerted_once_and_the_pc_coming_back_once(make_server, make_client, phone):
    server = make_server(**FAST, alert_language="en")
    set_alert(server, "alpha", phone.ntfy_url())
    published = time.monotonic()
    server.publish(order_id="7001", order_number="A-7001", amount="56.50")
    [alert] = phone.wait_for(1)
    took = time.monotonic() - published
    # The bound: the absence, a tick, and Apprise loading its plugins for the first send (a few
    # seconds on a loaded machine with a session bus, where it probes D-Bus).
    assert took < ABSENT_S + 10.0, f"the alert came {took:.2f} s after the order"
    message = alert.json()
    assert message["title"] == "[alpha] No PC is taking orders: 1 new orders nobody received"
    assert "Order #A-7001, ¥56.50" in message["message"]
    assert "No shop PC has been connected to the order server for 1 minutes" in message["message"]
    for n in range(5):  # the same outage: counted, not sent again
        server.publish(order_id=f"71{n}")
    client = make_client(server, "alpha")
    client.wait_orders(6)  # the PC gets every order by its replay
    back = phone.wait_for(2)[1].json()
    assert back["title"] == "[alpha] A shop PC is connected again"
    assert "6 orders arrived meanwhile" in back["message"]
    assert len(phone.requests) == 2


def test_a_burst_is_one_message_listing_ten(make_server, phone):
    server = make_server(**{**FAST, "no_pc_after_s": 3.0})  # the whole burst is in before the alert
    set_alert(server, "alpha", phone.ntfy_url())
    for n in range(30):
        server.publish(order_id=f"80{n:02d}")
    [alert] = phone.wait_for(1)
    message = alert.json()
    assert message["title"] == "【alpha】没有电脑在接单：30 个新订单无人收到"
    assert message["message"].count("订单 #") == 10 and "……还有 20 个订单" in message["message"]


def test_an_order_a_pc_receives_in_time_alerts_nobody(make_server, make_client, phone):
    server = make_server(**FAST)
    set_alert(server, "alpha", phone.ntfy_url())
    set_alert(server, "beta", phone.ntfy_url("beta"))
    client = make_client(server, "alpha")
    client.wait_state(ConnState.CONNECTED)
    server.publish("alpha", order_id="1")
    server.publish("beta", order_id="2")  # beta has no PC: its alert shows the loop has run
    [alert] = phone.wait_for(1)
    assert alert.json()["topic"] == "beta"
    client.wait_orders(1)
    assert [r.json()["topic"] for r in phone.requests] == ["beta"]


def test_a_hanging_target_holds_neither_ingest_nor_another_shops_alert(make_server, phones):
    phone, other_phone = phones
    server = make_server(**FAST)
    other_phone.hold()  # beta's service answers nothing until released
    set_alert(server, "alpha", phone.ntfy_url())
    set_alert(server, "beta", other_phone.ntfy_url("beta"))
    server.publish("beta", order_id="1")
    wait_until(lambda: other_phone.holding == 1, message="beta's alert is hanging")
    slowest = 0.0
    for n in range(20):
        started = time.monotonic()
        server.publish("alpha", order_id=f"9{n}")
        slowest = max(slowest, time.monotonic() - started)
    [alert] = phone.wait_for(1)
    assert alert.json()["title"].startswith("【alpha】没有电脑在接单")
    assert slowest < 1.0, f"an ingest took {slowest:.2f} s while a target hung"
    assert other_phone.requests == [] and other_phone.holding == 1
    other_phone.release()
    other_phone.wait_for(1)


def test_a_failing_target_is_retried(make_server, phone):
    server = make_server(**FAST)
    phone.fail_next(2, 502)
    set_alert(server, "alpha", phone.ntfy_url())
    server.publish(order_id="1")
    requests = phone.wait_for(3)
    assert [r.status for r in requests] == [502, 502, 200]
    assert len({r.json()["title"] for r in requests}) == 1


def test_set_alert_takes_the_target_from_stdin_and_never_shows_it(server, phone):
    target = f"json://127.0.0.1:{phone.port}/hook/sekrit-token-123"
    done = run_notifier("server", *server.store_args, "set-alert", "alpha", "--target-stdin", stdin=target + "\n")
    assert done.returncode == 0, done.stderr
    listed = run_notifier("server", *server.store_args, "list-shops")
    assert "sekrit" not in done.stdout + done.stderr + listed.stdout + listed.stderr
    assert "alerts to JSON webhook at 127.0.0.1" in listed.stdout
    assert alert_state_for(server.store).targets() == {"alpha": target}
    if server.store_url is None:  # kept like the ingest secret: only the server's user reads it
        kept = server.data_dir / "alert-targets" / "alpha"
        assert kept.stat().st_mode & 0o777 == 0o600 and kept.parent.stat().st_mode & 0o777 == 0o700
    wrong = run_notifier("server", *server.store_args, "set-alert", "alpha", "--target-stdin", stdin="mailto-nothing\n")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "The alert target cannot be used" in wrong.stderr
    cleared = run_notifier("server", *server.store_args, "set-alert", "alpha", "--clear")
    assert cleared.returncode == 0 and alert_state_for(server.store).targets() == {}


def test_gateways_on_one_redis_send_each_alert_once(make_server, make_client, store_url, phone):
    """Redis only: two gateways share the store; a PC on one of them counts for both, and only
    the gateway holding the lease sends."""
    if store_url is None:
        pytest.skip("several gateways share a Redis store only")
    slow = {**FAST, "no_pc_after_s": 1.0}  # presence is said every 0.25 s: a loaded machine's delays fit
    first = make_server(**slow)
    second = make_server(shops=(), **slow)
    set_alert(first, "alpha", phone.ntfy_url("alpha"))
    set_alert(first, "beta", phone.ntfy_url("beta"))
    wait_until(lambda: second.thread.app[NO_PC].watching("beta"), message="the second gateway watches beta")
    pc = make_client(first, "alpha")
    pc.wait_state(ConnState.CONNECTED)

    def publish(gateway, shop: str, order_id: str) -> None:
        protocol.publish_order(gateway.http_url, shop, first.shops[shop].ingest_secret, order_id=order_id)

    publish(second, "alpha", "a1")  # alpha's PC is on the first gateway: nobody is alerted
    for n in range(3):
        publish(first, "beta", f"b{n}")
        publish(second, "beta", f"c{n}")
    [alert] = phone.wait_for(1)
    assert alert.json()["topic"] == "beta" and "6 个新订单" in alert.json()["title"]
    pc.wait_orders(1)
    beta_pc = make_client(second, "beta", token=first.shops["beta"].client_token)
    beta_pc.wait_orders(6)
    back = phone.wait_for(2)[1].json()
    assert back["topic"] == "beta" and "期间收到 6 个订单" in back["message"]
    assert [r.json()["topic"] for r in phone.requests] == ["beta", "beta"]
