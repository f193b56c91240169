"""The alert centre's decisions, with the real Notifier and Announcer (speech on Qt's mock engine:
these tests are about what is said when, not about audio; the e2e test records real speech)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.settings import Settings
from notifier.desktop.alerts import AlertCentre, in_quiet_hours, next_morning


class Scene:
    """An alert centre on a fresh ledger, with what it showed and said collected."""

    def __init__(self, qtbot, tmp_path, now=None, **overrides):
        from notifier.desktop.notify import Notifier
        from notifier.desktop.voice import Announcer

        # No chimes: these tests are about what is said when (test_voice plays real chimes).
        values = {"general.language": "en", "alerts.repeat_interval": 0, "alerts.chime": False,
                  **overrides}
        self.settings = Settings(values)
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        kwargs = {"now": now} if now else {}
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer, **kwargs)
        self.shown: list[tuple[str, str]] = []
        self.spoken: list[str] = []
        self.badges: list[int] = []
        self.alerts.notified.connect(lambda t, b: self.shown.append((t, b)))
        self.announcer.started.connect(self.spoken.append)
        self.alerts.badge_changed.connect(self.badges.append)
        self.qtbot = qtbot
        self._n = 0

    def order(self, kind=OrderKind.NEW_ORDER, **fields) -> OrderEvent:
        self._n += 1
        values = {"order_number": str(1000 + self._n), "amount": Decimal("56.50"), "customer": "张三", **fields}
        event = OrderEvent(kind, f"o{self._n}" if kind is OrderKind.NEW_ORDER else f"o{self._n}", "json",
                           "shop.example", event_id=f"e{self._n}", **values)
        assert self.ledger.record(event)
        return event

    def arrive(self, *events: OrderEvent) -> None:
        self.alerts.on_orders(list(events))

    def wait_spoken(self, count: int, timeout: int = 5000) -> None:
        self.qtbot.waitUntil(lambda: len(self.spoken) >= count, timeout=timeout)


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


def test_a_new_order_is_shown_spoken_and_counted(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path)
    scene.arrive(scene.order(order_number="1234"))

    assert len(scene.shown) == 1
    title, body = scene.shown[0]
    assert "1234" in title
    assert "张三" in body
    scene.wait_spoken(1)
    assert "1234" in scene.spoken[0]
    assert scene.badges == [1]


def test_reminder_has_its_own_title_and_its_own_switch(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.notify_reminder": False})
    scene.arrive(scene.order(OrderKind.REMINDER, order_number="77"))
    assert scene.shown == []  # notification for reminders switched off
    scene.wait_spoken(1)  # but still announced
    assert "77" in scene.spoken[0]


def test_a_burst_becomes_one_summary_and_every_order_is_kept(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.burst_threshold": 3})
    events = [scene.order() for _ in range(50)]
    scene.arrive(*events[:20])
    scene.arrive(*events[20:])

    assert len(scene.shown) == 3  # the first ones, before the burst was recognised
    qtbot.waitUntil(lambda: len(scene.shown) == 4, timeout=4000)
    summary_title, _ = scene.shown[3]
    assert "50" in summary_title
    qtbot.wait(1300)
    assert len(scene.shown) == 4  # one summary, not one per batch
    assert scene.ledger.unacknowledged_orders() == 50
    assert scene.badges[-1] == 50
    # The voice says the summary, not fifty lines.
    qtbot.waitUntil(lambda: any("50" in text for text in scene.spoken), timeout=5000)
    assert len(scene.spoken) <= 4


def test_unacknowledged_orders_repeat_until_acknowledged(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.repeat_interval": 1, "alerts.repeat_limit": 10})
    scene.arrive(scene.order(order_number="4321"))
    scene.wait_spoken(2, timeout=4000)  # the first time and one repeat a second later
    assert all("4321" in text for text in scene.spoken)

    scene.alerts.acknowledge_all()
    spoken = len(scene.spoken)
    assert scene.alerts.repeating == []
    assert scene.badges[-1] == 0
    qtbot.wait(2300)
    assert len(scene.spoken) <= spoken + 1  # at most the line already being spoken


def test_repeats_stop_at_the_limit(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.repeat_interval": 1, "alerts.repeat_limit": 1})
    scene.arrive(scene.order())
    scene.wait_spoken(2, timeout=4000)
    qtbot.waitUntil(lambda: scene.alerts.repeating == [], timeout=3000)
    assert not scene.alerts._repeat_timer.isActive()  # nothing due: no timer, no CPU


def test_quiet_hours_silence_the_voice_but_not_the_notification(qtbot, tmp_path):
    late = datetime(2024, 5, 1, 23, 15)
    scene = Scene(qtbot, tmp_path, now=lambda: late,
                  **{"alerts.quiet_start": "22:00", "alerts.quiet_end": "07:00"})
    scene.arrive(scene.order())
    assert len(scene.shown) == 1
    qtbot.wait(300)
    assert scene.spoken == []


@pytest.mark.parametrize(
    ("start", "end", "hhmm", "quiet"),
    [
        ("22:00", "07:00", (23, 0), True),
        ("22:00", "07:00", (6, 59), True),
        ("22:00", "07:00", (7, 0), False),
        ("12:00", "14:00", (13, 0), True),
        ("12:00", "14:00", (14, 0), False),
        ("", "07:00", (3, 0), False),
        ("08:00", "08:00", (8, 0), False),
    ],
)
def test_quiet_hours_ranges(start, end, hhmm, quiet):
    assert in_quiet_hours(start, end, datetime(2024, 5, 1, *hhmm)) is quiet


def test_mute_silences_until_unmuted(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path)
    scene.alerts.mute_for(1800)
    scene.arrive(scene.order(order_number="1"))
    assert len(scene.shown) == 1
    qtbot.wait(300)
    assert scene.spoken == []
    scene.alerts.unmute()
    scene.arrive(scene.order(order_number="2"))
    scene.wait_spoken(1)
    assert "2" in scene.spoken[0]


def test_mute_until_tomorrow_ends_at_midnight():
    assert next_morning(datetime(2024, 5, 1, 23, 59)) == datetime(2024, 5, 2)
    assert next_morning(datetime(2024, 12, 31, 9, 0)) == datetime(2025, 1, 1)


def test_a_lost_connection_is_announced_once_and_its_return_too(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.disconnect_alert_after": 1})
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTED, "shop.example"))
    lost = ConnectionStatus(ConnState.WAITING, "shop.example", retry_in=5, reason=ConnState.UNREACHABLE)
    scene.alerts.on_status(lost)
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTING, "shop.example"))
    scene.alerts.on_status(lost)
    qtbot.waitUntil(lambda: len(scene.shown) == 1, timeout=3000)
    scene.wait_spoken(1)
    qtbot.wait(1200)
    assert len(scene.shown) == 1  # said once, however often it retries
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTED, "shop.example"))
    scene.wait_spoken(2)


def test_a_history_gap_is_shown_and_said_once(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path)
    gap = ConnectionStatus(ConnState.HISTORY_GAP, "shop.example", "events 2-5 expired")
    scene.alerts.on_status(gap)
    scene.alerts.on_status(gap)  # the same gap reported again: nothing new to say
    assert scene.shown == [("Some orders may have been missed", gap.sentence())]
    scene.wait_spoken(1)
    assert scene.spoken == ["Some orders may have been missed"]


def test_a_short_drop_is_not_announced(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path, **{"alerts.disconnect_alert_after": 1})
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTED, "s"))
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTING, "s"))
    scene.alerts.on_status(ConnectionStatus(ConnState.CONNECTED, "s"))
    qtbot.wait(1300)
    assert scene.shown == [] and scene.spoken == []


def test_clicking_a_notification_opens_that_order_in_the_window(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path)
    event = scene.order(order_number="888")
    scene.arrive(event)
    with qtbot.waitSignal(scene.alerts.show_order, timeout=1000) as blocker:
        scene.notifier.activated.emit(event.key)
    assert blocker.args == [event]


def test_markup_and_huge_text_are_shown_as_plain_text(qtbot, tmp_path):
    scene = Scene(qtbot, tmp_path)
    huge = "<b>加急</b><img src=x onerror=alert(1)>" + "长" * (5 * 1024 * 1024)
    scene.arrive(scene.order(customer="<i>Zhang</i>", text=huge))
    title, body = scene.shown[0]
    assert "<i>Zhang</i>" in body  # literally, not rendered or dropped
    assert len(body) < 100_000


def test_orders_faster_than_the_voice_are_read_as_one_summary_line(qtbot, tmp_path):
    # One order at a time (no burst window), faster than lines can be read out: the voice
    # queue stays short and the waiting orders are said as "N new orders".
    scene = Scene(qtbot, tmp_path, **{"alerts.burst_threshold": 1000})
    for _ in range(12):
        scene.arrive(scene.order())
    assert len(scene.shown) == 12  # every order still gets its notification
    assert scene.announcer.pending() <= 5
    qtbot.waitUntil(lambda: scene.announcer.pending() == 0, timeout=20_000)
    summaries = [text for text in scene.spoken if "new orders" in text]
    assert summaries, scene.spoken
    singles = len(scene.spoken) - len(summaries)
    assert singles + sum(int(text.split()[0]) for text in summaries) == 12  # every order is said
