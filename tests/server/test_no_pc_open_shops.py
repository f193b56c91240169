"""The reference server tells a shop's owner when the shop is open (营业中) and no PC of it has
been connected for a while, before any order comes: a real server (SQLite and Redis), real PC
clients, shops closed through the server's own API, real Apprise sends to the ntfy double of
tests/fakes/phone_services.py on 127.0.0.1, with the minutes made short by the test's config."""

from __future__ import annotations

import time

import pytest
from test_no_pc_alerts import FAST, set_alert
from test_store_and_cli import run_notifier

from notifier.core import protocol
from notifier.core.connection import ConnState
from notifier.server.app import NO_PC
from tests.fakes.phone_services import PhoneServices
from tests.helpers import wait_until

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)

OPEN_S = 0.5  # the shop open with no PC this long is alerted (the option is minutes: 10 by default)
# Orders alone would alert only after a minute: what is alerted here is the open shop's absence.
OPEN_FAST = {**FAST, "no_pc_after_s": 60.0, "no_pc_open_after_s": OPEN_S, "no_pc_gap_s": 600.0}


@pytest.fixture
def phone():
    with PhoneServices() as double:
        yield double


def topics(double) -> list[str]:
    return [request.json()["topic"] for request in double.requests]


def close(server, shop: str) -> None:
    protocol.set_shop_open(server.http_url, shop, server.shops[shop].client_token, False)


def rounds_pass(server, count: int = 2) -> None:
    """Wait until the decision loop has finished `count` more rounds: whatever it was going to
    queue by now is queued (alerts_sent), so the absence of an alert can be asserted."""
    alerts = server.thread.app[NO_PC]
    target = alerts.ticks + count
    wait_until(lambda: alerts.ticks >= target, message=f"{count} rounds of the no-PC decisions")


def test_an_open_shop_with_no_pc_is_alerted_once_and_the_pc_coming_back_once(make_server, make_client, phone):
    server = make_server(**OPEN_FAST, alert_language="en")
    watched = time.monotonic()
    set_alert(server, "alpha", phone.ntfy_url("alpha"))
    [alert] = phone.wait_for(1)
    took = time.monotonic() - watched
    # The bound: the absence, a tick, and Apprise loading its plugins for the first send.
    assert took < OPEN_S + 10.0, f"the alert came {took:.2f} s after the shop was watched"
    message = alert.json()
    assert message["title"] == "[alpha] Open, but no PC online for 1 minutes: new orders may go unanswered"
    assert "close it on the PC and this alert stops" in message["message"]
    server.publish(order_id="5001")  # an order during the outage: counted, no second alert
    rounds_pass(server)
    assert server.thread.app[NO_PC].alerts_sent == 1
    pc = make_client(server, "alpha")
    pc.wait_orders(1)
    back = phone.wait_for(2)[1].json()
    assert back["title"] == "[alpha] A shop PC is connected again"
    assert "1 orders arrived meanwhile" in back["message"]
    # The PC goes again: the shop is open without it, but the gap (600 s) since the alert holds the
    # next one. beta's PC leaves after alpha's and beta is alerted: alpha's time has come and gone.
    beta_pc = make_client(server, "beta")
    beta_pc.wait_state(ConnState.CONNECTED)
    set_alert(server, "beta", phone.ntfy_url("beta"))
    pc.stop()
    wait_until(lambda: not server.hub.has_subscribers("alpha"), message="alpha's PC gone")
    beta_pc.stop()
    phone.wait_for(3)
    rounds_pass(server)
    assert server.thread.app[NO_PC].alerts_sent == 3
    assert topics(phone) == ["alpha", "alpha", "beta"]


def test_a_closed_shop_and_a_shop_with_a_pc_are_not_alerted_and_opening_counts_from_then(make_server, make_client,
                                                                                        phone):
    server = make_server(shops=("alpha", "beta", "gamma"), **OPEN_FAST)
    close(server, "beta")
    pc = make_client(server, "alpha")
    pc.wait_state(ConnState.CONNECTED)
    for shop in ("alpha", "beta", "gamma"):
        set_alert(server, shop, phone.ntfy_url(shop))
    # gamma is open with no PC since the server's start, like beta: its alert means beta's time
    # has come too, and beta is closed.
    [alert] = phone.wait_for(1)
    rounds_pass(server)
    assert server.thread.app[NO_PC].alerts_sent == 1
    assert alert.json()["topic"] == "gamma"
    assert alert.json()["title"].startswith("【gamma】营业中，已有 1 分钟没有电脑在线")
    # beta opens: its absence counts from the opening, not from the server's start.
    opened = time.monotonic()
    protocol.set_shop_open(server.http_url, "beta", server.shops["beta"].client_token, True)
    phone.wait_for(2)
    took = time.monotonic() - opened
    assert topics(phone) == ["gamma", "beta"]
    assert took >= OPEN_S, f"beta was alerted {took:.2f} s after it opened"


def test_a_shop_closed_before_its_alert_ends_the_outage_silently(make_server, make_client, phone):
    """The shop's PC closes it (打烊) and goes: nothing to tell. The same with the shop open:
    the alert. (gamma, open and left the same way, is the proof that alpha's time has passed.)"""
    server = make_server(shops=("alpha", "gamma"), **OPEN_FAST)
    pcs = {shop: make_client(server, shop) for shop in ("alpha", "gamma")}
    for shop, pc in pcs.items():
        pc.wait_state(ConnState.CONNECTED)
        set_alert(server, shop, phone.ntfy_url(shop))
    wait_until(lambda: server.thread.app[NO_PC].counts_as_open("alpha"), message="alpha read as open")
    close(server, "alpha")
    wait_until(lambda: not server.thread.app[NO_PC].counts_as_open("alpha"), message="alpha read as closed")
    pcs["alpha"].stop()
    pcs["gamma"].stop()
    phone.wait_for(1)
    rounds_pass(server)
    assert server.thread.app[NO_PC].alerts_sent == 1
    assert topics(phone) == ["gamma"]


def test_a_shop_closed_after_its_alert_still_hears_when_a_pc_is_back(make_server, make_client, phone):
    """The owner was told "no PC": closing the shop (an admin, a script) does not take back the
    "back" message they expect."""
    server = make_server(**OPEN_FAST)
    set_alert(server, "alpha", phone.ntfy_url("alpha"))
    phone.wait_for(1)
    close(server, "alpha")
    wait_until(lambda: not server.thread.app[NO_PC].counts_as_open("alpha"), message="alpha read as closed")
    rounds_pass(server)
    pc = make_client(server, "alpha")
    pc.wait_state(ConnState.CONNECTED)
    back = phone.wait_for(2)[1].json()
    assert back["title"] == "【alpha】店里的电脑已重新连接" and "期间没有新订单" in back["message"]
    assert topics(phone) == ["alpha", "alpha"]


def test_gateways_on_one_redis_send_an_open_shops_alert_once(make_server, make_client, store_url, phone):
    """Redis only: two gateways share the store; the one holding the lease reads the shops'
    states and sends; a PC on either gateway counts for both."""
    if store_url is None:
        pytest.skip("several gateways share a Redis store only")
    slow = {**OPEN_FAST, "no_pc_open_after_s": 1.0}  # presence is said every 0.25 s: a loaded machine's delays fit
    first = make_server(**slow)
    second = make_server(shops=(), **slow)
    set_alert(first, "alpha", phone.ntfy_url("alpha"))
    wait_until(lambda: second.thread.app[NO_PC].watching("alpha"), message="the second gateway watches alpha")
    beta_pc = make_client(second, "beta", token=first.shops["beta"].client_token)
    beta_pc.wait_state(ConnState.CONNECTED)
    set_alert(first, "beta", phone.ntfy_url("beta"))
    wait_until(lambda: second.thread.app[NO_PC].watching("beta"), message="the second gateway watches beta")
    [alert] = phone.wait_for(1)
    assert alert.json()["topic"] == "alpha" and "营业中" in alert.json()["title"]
    alpha_pc = make_client(second, "alpha", token=first.shops["alpha"].client_token)
    alpha_pc.wait_state(ConnState.CONNECTED)
    back = phone.wait_for(2)[1].json()
    assert back["topic"] == "alpha" and "期间没有新订单" in back["message"]
    assert topics(phone) == ["alpha", "alpha"]


def test_a_wrong_no_pc_open_after_is_one_sentence(tmp_path):
    done = run_notifier("server", "--data-dir", str(tmp_path), "run", "--no-pc-open-after", "-1",
                        env_extra={"LANG": "en_US.UTF-8", "LC_ALL": "", "LANGUAGE": ""})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--no-pc-open-after: must be 0 (off) or a number of minutes above 0 (got '-1')" in done.stderr
