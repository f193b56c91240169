"""The popup lane: a new order's notification reaches the session's notification server from
the thread that stored it, while the main thread is busy; the alert centre then shows it no
second time, and the burst rule, auto-accept and the popup switches still hold."""

from __future__ import annotations

import itertools
import threading
import time
from decimal import Decimal

import pytest
from helpers import NotificationLog

from notifier.core import wording
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.desktop.bridge import CoreBridge
from notifier.desktop.popup_lane import BurstGate

pytestmark = pytest.mark.needs_session
_shops = itertools.count(1)


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


class Shop:
    """The app's order path (intake -> bridge -> alert centre) with the real Notifier on the
    session bus, a real ledger, and the speech helper on Qt's mock engine. The recorder is the
    whole session's (other tests run in parallel): a shop's orders come through a connection
    named for it, which leads their popups' titles."""

    def __init__(self, qtbot, tmp_path, **overrides):
        from notifier.desktop.alerts import AlertCentre
        from notifier.desktop.notify import Notifier
        from notifier.desktop.voice import Announcer

        self.settings = Settings({"general.language": "en", "alerts.repeat_interval": 0,
                                  "alerts.chime": False, **overrides})
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer)
        self.bridge = CoreBridge()
        self.intake = OrderIntake(self.ledger, MemorySecrets())
        self.intake.on_order(self.bridge.push_order)
        self.bridge.orders.connect(self.alerts.on_orders)
        self.bridge.early = self.alerts.lane.offer  # as the app wires it
        self.name = f"lane{next(_shops)}-{id(self)}"
        self.summaries: set[str] = set()
        self.shown: list[str] = []
        self.alerts.notified.connect(lambda title, _body: self.shown.append(title))
        self.log = NotificationLog()
        self.qtbot = qtbot
        # The bus connection is up once a first popup went out (the lane never waits for it).
        self.notifier.show(f"{self.name} warming up", "", key=None)
        self.log.wait_for(lambda e: e["summary"] == f"{self.name} warming up", timeout=10)
        self.log.mark()

    def arrive_while_the_main_thread_is_busy(self, *numbers: str, kind=OrderKind.NEW_ORDER) -> None:
        """The source thread stores the orders; the main thread (this test) does not run its
        event loop meanwhile."""
        def source():
            for number in numbers:
                self.intake.store(OrderEvent(kind, f"id{number}", "json", "shop.example",
                                             order_number=number, amount=Decimal("56.50"),
                                             event_id=f"e{number}", connection=self.name))

        worker = threading.Thread(target=source)
        worker.start()
        worker.join(10)

    def popups(self) -> list[str]:
        """This shop's popups, its name taken off their titles."""
        mine = f"{self.name} · "
        return [e["summary"].removeprefix(mine) for e in self.log.entries()
                if e["summary"].startswith(mine) or e["summary"] in self.summaries]

    def wait_popups(self, count: int, timeout: float = 5.0) -> list[str]:
        """Waits without running the main thread's event loop."""
        deadline = time.monotonic() + timeout
        while len(self.popups()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.popups()

    def let_the_main_thread_run(self, told: int) -> None:
        self.qtbot.waitUntil(lambda: len(self.shown) >= told, timeout=5000)

    def close(self) -> None:
        self.alerts.stop()
        self.announcer.shutdown()
        self.notifier.close()
        self.ledger.close()


@pytest.fixture
def shop(qtbot, tmp_path):
    made = []

    def make(**overrides) -> Shop:
        made.append(Shop(qtbot, tmp_path, **overrides))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_a_new_orders_popup_does_not_wait_for_a_busy_main_thread(shop):
    s = shop()
    s.arrive_while_the_main_thread_is_busy("1234")
    assert s.wait_popups(1) == ["New order #1234"]  # the main thread has not run at all

    s.let_the_main_thread_run(told=1)  # voice line, badge, told mark: as before
    assert s.shown == [f"{s.name} · New order #1234"]
    time.sleep(0.3)  # nothing else may come: the alert centre must not show it again
    assert s.popups() == ["New order #1234"]
    assert s.ledger.untold() == []


def test_a_burst_still_becomes_the_threshold_and_one_summary(shop):
    s = shop(**{"alerts.burst_threshold": 3})
    s.summaries.add(wording.summary_title(10, OrderKind.NEW_ORDER, "en"))
    s.arrive_while_the_main_thread_is_busy(*(str(n) for n in range(2001, 2011)))
    assert s.wait_popups(3) == ["New order #2001", "New order #2002", "New order #2003"]
    time.sleep(0.3)
    assert len(s.popups()) == 3  # the rest wait for the summary

    s.let_the_main_thread_run(told=4)  # the three, then the summary when the window closes
    # Told here is not yet on the bus: the summary's Notify is written by the notifier's thread.
    s.qtbot.waitUntil(lambda: len(s.popups()) >= 4, timeout=5000)
    time.sleep(0.3)  # and nothing more may come
    popups = s.popups()
    assert popups[:3] == ["New order #2001", "New order #2002", "New order #2003"]
    assert popups[3:] == [wording.summary_title(10, OrderKind.NEW_ORDER, "en")]  # all ten


def test_the_lane_steps_aside_while_auto_accept_may_take_the_order(shop):
    s = shop()
    s.alerts.lane.steps_aside = lambda: True
    s.arrive_while_the_main_thread_is_busy("77")
    time.sleep(0.3)
    assert s.popups() == []  # decided on the main thread
    s.let_the_main_thread_run(told=1)
    assert s.wait_popups(1) == ["New order #77"]


def test_switched_off_popups_stay_off(shop):
    s = shop(**{"alerts.notify_new_order": False})
    s.arrive_while_the_main_thread_is_busy("88")
    s.arrive_while_the_main_thread_is_busy("89", kind=OrderKind.REMINDER)
    assert s.wait_popups(1) == ["Reminder #89"]
    s.qtbot.wait(300)
    assert s.popups() == ["Reminder #89"]


def test_the_burst_gate_counts_like_the_alert_centres_window():
    now = [100.0]
    gate = BurstGate(lambda: now[0])
    assert [gate.take(2) for _ in range(4)] == [True, True, False, False]
    now[0] += 0.9  # still the same burst: held ones keep the window open
    assert gate.take(2) is False
    now[0] += 1.5  # a quiet second and more: a new window
    assert gate.take(2) is True
    now[0] += 0.5
    gate.give_back()  # that place went unused
    assert [gate.take(2), gate.take(2), gate.take(2)] == [True, True, False]
