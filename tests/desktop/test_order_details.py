"""What a sky-take-out order is worth, told without making the order wait: the popup shows at once
and is updated in place (Notify with `replaces_id`, seen by the real session bus's notification
recorder) when the order's details come from the admin API of the double on 127.0.0.1; the voice
line waits for them up to a bound, then says the amount, or is said without it. Speech runs on
Qt's mock engine (this is about what is said and when, not audio); its lines are recorded on
their way into the real Announcer."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from helpers import NotificationLog

from notifier.core import wording
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from tests.fakes.skytakeout_server import SkyTakeOutDouble

pytestmark = pytest.mark.needs_session  # the popups are read from the session's notification recorder


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


class Shop:
    """The app's wiring: intake → bridge (orders, details) → alert centre → notifier, announcer."""

    def __init__(self, tmp_path, double: SkyTakeOutDouble):
        from notifier.desktop.alerts import AlertCentre
        from notifier.desktop.bridge import CoreBridge
        from notifier.desktop.notify import Notifier
        from notifier.desktop.voice import Announcer

        self.settings = Settings({
            "general.language": "en", "alerts.chime": False, "alerts.repeat_interval": 60,
            "connection.protocol": "skytakeout", "connection.url": double.ws_url,
            "skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": "admin"})
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        self.said: list[tuple[float, str, str | None]] = []  # (monotonic, text, key) as queued
        announce = self.announcer.announce

        def recorded(text: str, *, chime: str | None = None, key: str | None = None) -> None:
            self.said.append((time.monotonic(), text, key))
            announce(text, chime=chime, key=key)

        self.announcer.announce = recorded
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer)
        self.bridge = CoreBridge()
        self.bridge.orders.connect(self.alerts.on_orders)
        self.bridge.details.connect(self.alerts.on_details)
        self.intake = OrderIntake(self.ledger, MemorySecrets({"skytakeout_admin_password": "123456"}))
        self.intake.on_order(self.bridge.push_order)
        self.intake.on_details(self.bridge.push_details)
        self.intake.start(self.settings)
        double.wait_for_clients()

    def lines_for(self, order_id: str) -> list[tuple[float, str, str | None]]:
        return [line for line in self.said if line[2] and line[2].endswith(f"|new_order|{order_id}")]

    def close(self) -> None:
        self.alerts.stop()
        self.announcer.shutdown()
        self.intake.stop()
        self.notifier.close()
        self.ledger.close()


# Qt objects of finished tests are kept: one deleted while a queued signal is on its way to it
# would crash a later test.
_KEPT: list = []


@pytest.fixture
def scene(qtbot, tmp_path):
    with SkyTakeOutDouble() as double:
        shop = Shop(tmp_path, double)
        _KEPT.append(shop)
        qtbot.waitUntil(lambda: shop.intake.source.pulls >= 1, timeout=10_000)  # the first pull done
        yield shop, double
        shop.close()


def _about(record: dict):
    number = str(record["number"])
    return lambda e: number in e["summary"] + e["body"]


def test_the_popup_shows_at_once_and_is_updated_in_place_and_the_voice_says_the_amount(qtbot, scene):
    shop, double = scene
    double.details_delay = 1.0
    log = NotificationLog()
    log.mark()
    paid_at = time.monotonic()
    record = double.pay(amount="66.60", consignee="孙八")
    about = _about(record)
    qtbot.waitUntil(lambda: any(about(e) for e in log.entries()), timeout=5000)
    shown_after = time.monotonic() - paid_at
    first = next(e for e in log.entries() if about(e))
    assert shown_after < 0.8, f"the popup waited {shown_after:.2f} s (details answer after 1.0 s)"
    assert first["replaces_id"] == 0 and "66.60" not in first["body"]
    assert shop.lines_for(str(record["id"])) == []  # the voice waits for the amount

    qtbot.waitUntil(lambda: any(e["replaces_id"] == first["id"] for e in log.entries()), timeout=5000)
    update = next(e for e in log.entries() if e["replaces_id"] == first["id"])
    assert about(update) and "66.60" in update["body"] and "孙八" in update["body"]
    assert len([e for e in log.entries() if about(e)]) == 2  # one popup, updated; not a second one

    qtbot.waitUntil(lambda: bool(shop.lines_for(str(record["id"]))), timeout=3000)
    ((said_at, text, _key),) = shop.lines_for(str(record["id"]))
    assert wording.speakable_amount(Decimal("66.60"), "en") in text
    assert 0.9 < said_at - paid_at < 1.5 + 0.5
    key = shop.lines_for(str(record["id"]))[0][2]
    assert key not in {e.event.key for e in shop.ledger.untold()}  # told once the line was queued
    assert str(shop.ledger.find(key).event.amount) == "66.60"


def test_details_that_never_come_in_time_leave_the_line_without_the_amount_after_the_bound(qtbot, scene):
    shop, double = scene
    double.details_delay = 3.0  # beyond the details request's own bound
    log = NotificationLog()
    log.mark()
    paid_at = time.monotonic()
    record = double.pay(amount="77.70")
    about = _about(record)
    qtbot.waitUntil(lambda: any(about(e) for e in log.entries()), timeout=5000)
    assert time.monotonic() - paid_at < 0.8
    key = next(e.key for e in (entry.event for entry in shop.ledger.recent(5))
               if e.order_id == str(record["id"]))
    assert key in {e.event.key for e in shop.ledger.untold()}  # its line is not queued yet

    qtbot.waitUntil(lambda: bool(shop.lines_for(str(record["id"]))), timeout=4000)
    ((said_at, text, _key),) = shop.lines_for(str(record["id"]))
    assert 1.3 < said_at - paid_at < 2.5, f"said {said_at - paid_at:.2f} s after the order"
    assert wording.speakable_amount(Decimal("77.70"), "en") not in text
    assert key not in {e.event.key for e in shop.ledger.untold()}
    assert [e for e in log.entries() if e["replaces_id"]] == []  # nothing to update it with
