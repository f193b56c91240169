"""Auto-accept (自动接单) decides with its own rules: off by default, only while the shop is open,
paused while the printer does not print (and only when tickets are printed at all), and at most
the hourly cap — counted on the test's clock."""

from __future__ import annotations

from notifier.core.auto_accept import ACCEPT, CAPPED, CLOSED, OFF, PRINTER, UNKNOWN, AutoAccept
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def order(kind=OrderKind.NEW_ORDER, n=1) -> OrderEvent:
    return OrderEvent(kind=kind, order_id=str(n), source="skytakeout", server="shop")


def policy(clock=None, **values) -> AutoAccept:
    settings = Settings({"connection.auto_accept": True, **values})
    return AutoAccept(settings, clock or Clock())


def test_off_by_default():
    assert Settings()["connection.auto_accept"] is False
    assert AutoAccept(Settings()).decide(order(), shop_open=True).why == OFF


def test_only_new_orders_while_the_shop_is_open():
    auto = policy()
    assert auto.decide(order(), shop_open=True).why == ACCEPT
    assert auto.decide(order(OrderKind.REMINDER), shop_open=True).accept is False
    closed = auto.decide(order(), shop_open=False)
    assert closed.why == CLOSED and "closed" in closed.sentence
    assert auto.decide(order(), shop_open=None).why == UNKNOWN


def test_an_offline_printer_pauses_it_with_a_sentence_and_its_return_resumes_it():
    auto = policy(**{"printer.print_on": "new_order"})
    paused = auto.decide(order(), shop_open=True, printer_problem="Printer offline — 1 ticket waiting")
    assert paused.why == PRINTER and "Printer offline" in paused.sentence
    assert auto.paused_because(shop_open=True, printer_problem="no paper")
    assert auto.decide(order(), shop_open=True, printer_problem="").why == ACCEPT
    assert auto.paused_because(shop_open=True) == ""
    # No tickets printed at all: a printer's trouble does not hold anything back.
    assert policy().decide(order(), shop_open=True, printer_problem="offline").why == ACCEPT


def test_the_hourly_cap_counts_the_last_hour():
    clock = Clock()
    auto = policy(clock, **{"connection.auto_accept_per_hour": 2})
    for n in range(2):
        assert auto.decide(order(n=n), shop_open=True).accept
        auto.accepted()
        clock.now += 60
    capped = auto.decide(order(n=3), shop_open=True)
    assert capped.why == CAPPED and "2" in capped.sentence
    clock.now = 1000.0 + 3600  # the first one is an hour old
    assert auto.decide(order(n=3), shop_open=True).accept


def test_changing_auto_accept_does_not_reconnect():
    before = Settings()
    assert not before.updated({"connection.auto_accept": True}).connection_changed(before)
    assert before.updated({"connection.url": "ws://x/"}).connection_changed(before)
