"""Escalation on the PC (notifier.desktop.escalation) with the real alert centre, Notifier,
Announcer (Qt's mock speech engine: what is said, not audio, except in the one test that
records the chimes), ledger and sender; the phone is an ntfy double on 127.0.0.1. The clock is
the test's: minutes pass in no time, and `check_now()` is what the timer would call."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from helpers import AudioRecorder, ManualClock, rms

from notifier.core.connection import Backoff, ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.settings import Settings
from notifier.desktop.alerts import AlertCentre
from notifier.desktop.escalation import Escalations
from tests.fakes.phone_services import PhoneServices

MIN = 60.0


class Scene:
    """Alert centre and escalation on one ledger, wired as the app wires them."""

    def __init__(self, qtbot, tmp_path, phone: PhoneServices, **overrides):
        from notifier.desktop.notify import Notifier
        from notifier.desktop.voice import Announcer

        values = {"general.language": "zh_CN", "alerts.repeat_interval": 0, "alerts.chime": False,
                  "escalation.shop_name": "老王面馆", **overrides}
        self.settings = Settings(values)
        self.clock = ManualClock(5000.0)
        self.phone = phone
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer,
                                  monotonic=self.clock)
        self.targets = [f"ntfy://127.0.0.1:{phone.port}/shop-orders"]
        self.escalations = Escalations(
            self.settings, self.ledger, self.notifier, self.announcer, lambda: (list(self.targets), None),
            sender_options={"backoff": lambda: Backoff(0.05, 0.1)}, voice_allowed=self.alerts.voice_allowed,
            repeating=lambda: self.alerts.repeating, clock=self.clock)
        self.alerts.is_urgent = self.escalations.is_urgent
        self.shown: list[str] = []
        self.spoken: list[str] = []
        self.problems: list[str] = []
        self.alerts.notified.connect(lambda title, _body: self.shown.append(title))
        self.announcer.started.connect(self.spoken.append)
        self.escalations.problem_changed.connect(self.problems.append)
        self.qtbot = qtbot
        self._n = 0

    def order(self, **fields) -> OrderEvent:
        self._n += 1
        values = {"order_number": str(1000 + self._n), "amount": Decimal("56.50"), **fields}
        event = OrderEvent(OrderKind.NEW_ORDER, f"o{self._n}", "json", "shop.example", **values)
        assert self.ledger.record(event)
        return event

    def arrive(self, *events: OrderEvent) -> None:
        """What the bridge does with a batch: the alert centre and the escalation both get it."""
        self.alerts.on_orders(list(events))
        self.escalations.on_orders(list(events))

    def after(self, seconds: float) -> None:
        self.clock.now += seconds
        self.escalations.check_now()

    def titles(self) -> list[str]:
        return [r.json()["title"] for r in self.phone.requests if r.status == 200]

    def close(self) -> None:
        self.escalations.stop()
        self.alerts.stop()
        self.announcer.shutdown()
        self.ledger.close()


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


@pytest.fixture
def phone():
    with PhoneServices() as double:
        yield double


@pytest.fixture
def scene(qtbot, tmp_path, phone):
    made = Scene(qtbot, tmp_path, phone)
    yield made
    made.close()


def test_an_order_nobody_acts_on_rings_louder_at_3_and_reaches_the_phone_at_5_minutes(scene, qtbot):
    event = scene.order(order_number="1234")
    scene.arrive(event)
    qtbot.waitUntil(lambda: len(scene.spoken) == 1)

    scene.after(3 * MIN - 1)
    assert len(scene.spoken) == 1 and scene.phone.requests == []
    scene.after(1)
    qtbot.waitUntil(lambda: len(scene.spoken) == 2)
    assert scene.spoken[1] == "订单 1234 已等待 3 分钟，请尽快处理"
    assert scene.alerts.is_urgent(event.key)  # its repeats ring the urgent chime from now on
    assert scene.phone.requests == []

    scene.after(2 * MIN)
    [request] = scene.phone.wait_for(1)
    body = request.json()
    assert body["title"] == "【老王面馆】订单 #1234 已等待 5 分钟无人处理"
    assert body["message"].startswith("订单 #1234，金额 56.50 元，已等待 5 分钟")
    scene.after(60 * MIN)
    assert len(scene.spoken) == 2 and len(scene.phone.requests) == 1  # once per step


def test_orders_waiting_before_a_restart_escalate_on_their_own_schedule(qtbot, tmp_path, phone):
    """The app was closed with orders waiting four minutes: the new run phones a minute later,
    counting from when they arrived. An acknowledged one, and one from hours ago, stay quiet."""

    def stored(waited_s: float, order_id: str, number: str) -> Ledger:
        ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: time.time() - waited_s)
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, order_id, "json", "shop.example", order_number=number,
                                 amount=Decimal("12")))
        return ledger

    for waited_s, order_id, number in ((4 * MIN, "w1", "2001"), (4 * MIN, "w2", "2002"), (3 * 3600, "old", "1999")):
        stored(waited_s, order_id, number).close()
    acked = stored(4 * MIN, "w3", "2003")
    acked.acknowledge([acked.find(acked.recent(1)[0].event.key).id])
    acked.close()
    scene = Scene(qtbot, tmp_path, phone)
    try:
        scene.after(MIN / 2)  # (half a minute of leeway for a slow start)
        assert phone.requests == []
        scene.after(MIN / 2)
        [request] = phone.wait_for(1)
        body = request.json()
        assert body["title"] == "【老王面馆】2 个订单已等待 5 分钟无人处理"
        assert "#2001" in body["message"] and "#2002" in body["message"]
        assert "#2003" not in body["message"] and "#1999" not in body["message"]
        scene.after(60 * MIN)
        assert len(phone.requests) == 1
    finally:
        scene.close()


def test_an_acknowledged_or_ended_order_never_escalates(scene, qtbot):
    scene.arrive(scene.order(), scene.order())
    scene.after(1 * MIN)
    scene.alerts.acknowledge_all()  # the tray's "acknowledge all"
    ended, waiting = scene.order(), scene.order(order_number="3003")
    scene.arrive(ended, waiting)
    scene.ledger.end_order("json", "shop.example", ended.order_id, "accepted_elsewhere", connection_id="")  # another PC
    scene.after(5 * MIN)
    [request] = scene.phone.wait_for(1)
    assert request.json()["title"] == "【老王面馆】订单 #3003 已等待 5 分钟无人处理"
    scene.after(30 * MIN)
    assert len(scene.phone.requests) == 1


def test_a_burst_of_50_reaches_the_phone_as_one_message(scene):
    scene.arrive(*[scene.order() for _ in range(50)])
    scene.after(5 * MIN)
    [request] = scene.phone.wait_for(1)
    assert request.json()["title"] == "【老王面馆】50 个订单已等待 5 分钟无人处理"
    assert "还有 40 个订单" in request.json()["message"]
    scene.after(10 * MIN)
    assert len(scene.phone.requests) == 1


def test_a_failing_phone_target_is_retried_and_shown_in_the_tray_without_delaying_alerts(scene, qtbot):
    from notifier.desktop.tray import Tray

    tray = Tray()
    scene.escalations.problem_changed.connect(tray.set_phone_problem)
    scene.phone.fail_next(1000, 500)
    scene.arrive(scene.order(order_number="1"))
    scene.after(5 * MIN)
    qtbot.waitUntil(lambda: bool(scene.problems) and scene.problems[-1] != "")
    assert scene.problems[-1].startswith("ntfy at 127.0.0.1: the service answered HTTP 500; trying again")
    assert "ntfy at 127.0.0.1: the service answered HTTP 500" in tray.icon.toolTip()
    assert "shop-orders" not in tray.icon.toolTip()  # the topic is the target's secret

    # The phone keeps failing, and hangs now: a new order is shown and said all the same.
    scene.phone.hold()
    shown_before = len(scene.shown)
    scene.arrive(scene.order(order_number="2"))
    assert len(scene.shown) == shown_before + 1  # shown in the same call, not after the phone
    qtbot.waitUntil(lambda: any("2" in line for line in scene.spoken[-1:]))
    scene.phone.succeed()
    scene.phone.release()
    qtbot.waitUntil(lambda: scene.titles() == ["【老王面馆】订单 #1 已等待 5 分钟无人处理"], timeout=5000)
    qtbot.waitUntil(lambda: scene.problems[-1] == "")
    assert tray.icon.toolTip().count("ntfy") == 0


def test_a_lost_connection_reaches_the_phone_and_so_does_its_return(scene, qtbot):
    server = "orders.example.com"
    scene.escalations.on_status(ConnectionStatus(ConnState.CONNECTED, server))
    scene.escalations.on_status(ConnectionStatus(ConnState.WAITING, server, retry_in=5))
    scene.after(5 * MIN)
    scene.phone.wait_for(1)
    scene.escalations.on_status(ConnectionStatus(ConnState.CONNECTED, server))
    scene.arrive(scene.order(), scene.order())  # caught up on resume
    scene.after(30)
    scene.phone.wait_for(2)
    assert scene.titles() == ["【老王面馆】orders.example.com 连接已断开 5 分钟：可能有订单在等待",
                              "【老王面馆】orders.example.com 连接已恢复"]
    assert scene.phone.requests[1].json()["message"] == "连接断开了 5 分钟，期间收到 2 个订单。"


def test_no_target_saved_means_no_phone_message_and_no_complaint(scene):
    scene.targets.clear()
    scene.arrive(scene.order())
    scene.after(5 * MIN)
    scene.escalations.send_test()
    scene.qtbot.wait(100)
    assert scene.phone.requests == [] and scene.problems == []


@pytest.mark.needs_session
def test_the_escalation_rings_clearly_louder_than_a_new_order(qtbot, tmp_path, phone):
    """Recorded from the session's speakers over the same window: the new-order chime at the
    level the announcer plays it, and the escalation's line (its chime plays at once; the words
    wait for the speech helper, and the mock engine is silent anyway)."""
    from notifier.desktop.sounds import ChimePlayer, chime_path, wav_length_ms
    from notifier.desktop.voice import CHIME_LEVEL

    window = wav_length_ms(chime_path("urgent")) / 1000 + 0.4  # the longer chime, and latency

    def recorded(name: str, play) -> float:
        with AudioRecorder(tmp_path, f"{name}.wav") as recorder:
            play()
            qtbot.waitUntil(lambda: recorder.seconds_recorded() >= window, timeout=5_000)
        return rms(recorder.path)

    reference = ChimePlayer()
    reference.set_volume(CHIME_LEVEL * 1.0)  # voice.volume 1.0, as in the scene
    new_order = recorded("new_order", lambda: reference.play("new_order"))

    scene = Scene(qtbot, tmp_path, phone, **{"alerts.chime": True})
    try:
        # On the ledger, not announced: the only line is the escalation's.
        scene.escalations.on_orders([scene.order(order_number="77")])
        urgent = recorded("urgent", lambda: scene.after(3 * MIN))
    finally:
        scene.close()
    assert new_order > 0.005  # the new-order chime was heard at all
    assert urgent > 2 * new_order, (urgent, new_order)
