"""The alert centre records an order as told in the ledger once the person has been told: its
popup shown and its voice line queued, or, in a burst, the summary made. Until then a crash
leaves it "untold", and the next start tells it. (Real Notifier and Announcer, speech on Qt's
mock engine.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.settings import Settings
from notifier.desktop.alerts import AlertCentre


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


@pytest.fixture
def centre(qtbot, tmp_path):
    from notifier.desktop.notify import Notifier
    from notifier.desktop.voice import Announcer

    settings = Settings({"general.language": "en", "alerts.repeat_interval": 0, "alerts.chime": False,
                         "alerts.burst_threshold": 2})
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    alerts = AlertCentre(settings, ledger, Notifier(), Announcer(settings))
    shown: list[str] = []
    alerts.notified.connect(lambda title, _body: shown.append(title))
    yield alerts, ledger, shown
    ledger.close()


def stored(ledger: Ledger, n: int, kind: OrderKind = OrderKind.NEW_ORDER) -> OrderEvent:
    event = OrderEvent(kind, f"o{n}", "json", "shop.example", order_number=str(1000 + n),
                       amount=Decimal("9.90"), event_id=f"e{n}")
    assert ledger.record(event)
    return event


def untold(ledger: Ledger) -> list[str]:
    return [entry.event.order_id for entry in ledger.untold()]


def test_an_order_is_told_once_shown_and_a_burst_once_summarised(qtbot, centre):
    alerts, ledger, shown = centre
    burst = [stored(ledger, n) for n in range(1, 5)]
    assert untold(ledger) == ["o1", "o2", "o3", "o4"], "on disk, nobody told yet"

    alerts.on_orders(burst)
    assert shown == ["New order #1001", "New order #1002"]
    ledger.flush_told()
    assert untold(ledger) == ["o3", "o4"], "held for the summary: not told yet"

    qtbot.waitUntil(lambda: any("4 new orders" in title for title in shown), timeout=5000)
    ledger.flush_told()
    assert untold(ledger) == []


def test_a_cancellation_nobody_is_alerted_about_is_not_told_again_at_the_next_start(qtbot, centre):
    alerts, ledger, shown = centre
    cancelled = stored(ledger, 7, OrderKind.CANCELLED)
    alerts.on_orders([cancelled])
    ledger.flush_told()
    assert shown == [] and untold(ledger) == []
