"""派送, 完成 and 取消 where the shop works, in the desktop app's parts: the notification's buttons
clicked on the real session bus (the notification recorder), the orders window's buttons and
state column, refusals told as notifications named by the order's number, and today's figures in
the window's header — against the sky-take-out double's admin API on 127.0.0.1."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import NotificationLog
from test_decisions import _KEPT, Shop, double  # noqa: F401 - the fixtures

from tests.fakes.skytakeout_server import ACCEPTED, CANCELLED, COMPLETED, DELIVERING


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


class LifeShop(Shop):
    def __init__(self, qtbot, tmp_path, double, **kw):  # noqa: F811
        from notifier.desktop.order_life import OrderLife

        super().__init__(qtbot, tmp_path, double, **kw)
        self.life = OrderLife(self.decisions, self.ledger, self.intake, self.notifier)

    def close(self):
        self.life.stop()
        super().close()

    def window(self, qtbot):
        window = super().window(qtbot)
        window.set_order_life(self.life)
        return window

    def accepted(self, qtbot):
        record = self.paid(qtbot)
        assert self.decisions.accept(self.ledger.recent(1)[0].event)
        qtbot.waitUntil(lambda: self.double.status(record["id"]) == ACCEPTED, timeout=10_000)
        return record


@pytest.fixture
def shop(qtbot, tmp_path, double):  # noqa: F811
    first = len(_KEPT)
    scene = LifeShop(qtbot, tmp_path, double)
    _KEPT.append(scene)
    yield scene
    for s in _KEPT[first:]:
        s.close()


def shown(qtbot, log, predicate, timeout_ms: int = 10_000) -> dict:
    """The first notification since the mark that matches, waiting with Qt's loop running (the
    outcome reaches the Qt thread through a queued signal)."""
    qtbot.waitUntil(lambda: any(predicate(e) for e in log.entries()), timeout=timeout_ms)
    return log.wait_for(predicate)


def life_requests(server):
    return [(m, p, b) for m, p, b in server.state.requests
            if p.startswith(("/admin/order/delivery", "/admin/order/complete", "/admin/order/cancel"))]


@pytest.mark.needs_session
def test_deliver_and_complete_from_the_notification_buttons(qtbot, shop):
    log = NotificationLog()
    log.mark()
    record = shop.paid(qtbot)
    popup = log.wait_for(lambda e: str(record["number"]) in e["summary"] + e["body"])
    log.invoke_action(popup["id"], "accept")
    # Accepted: the order's popup comes back with what comes next.
    step = shown(qtbot, log, lambda e: e["summary"] == f"Order {record['number']} accepted")
    assert step["actions"][2:] == ["deliver", "Send out", "complete", "Complete", "cancel", "Cancel order…"]
    log.invoke_action(step["id"], "deliver")
    qtbot.waitUntil(lambda: shop.double.status(record["id"]) == DELIVERING, timeout=10_000)
    out = shown(qtbot, log, lambda e: e["summary"] == f"Order {record['number']} out for delivery")
    assert out["actions"][2:] == ["complete", "Complete", "cancel", "Cancel order…"]
    log.invoke_action(out["id"], "complete")
    qtbot.waitUntil(lambda: shop.double.status(record["id"]) == COMPLETED, timeout=10_000)
    assert life_requests(shop.double) == [("PUT", f"/admin/order/delivery/{record['id']}", None),
                                          ("PUT", f"/admin/order/complete/{record['id']}", None)]
    assert shop.ledger.recent(1)[0].state == "completed"


@pytest.mark.needs_session
def test_the_window_cancels_with_a_reason_and_shows_each_orders_state(qtbot, shop):
    record = shop.accepted(qtbot)
    waiting = shop.paid(qtbot)
    window = shop.window(qtbot)
    qtbot.waitUntil(lambda: window.reload() or not shop.decisions.unsent(), timeout=5000)
    window.reload()
    state_column = window.model.COLUMNS.index("state")
    states = {window.model.entry(r).event.order_id: window.model.data(window.model.index(r, state_column))
              for r in range(window.model.rowCount())}
    assert states == {str(record["id"]): "To send out", str(waiting["id"]): "To accept"}
    row = next(r for r in range(window.model.rowCount())
               if window.model.entry(r).event.order_id == str(record["id"]))
    window.table.selectRow(row)
    assert [a for a, b in window.life_buttons.items() if b.isVisible()] == ["deliver", "complete", "cancel"]
    shop.life.reason_asker = lambda _event, _parent: "No rider available"
    assert window.take_step("cancel")
    qtbot.waitUntil(lambda: shop.double.status(record["id"]) == CANCELLED, timeout=10_000)
    assert life_requests(shop.double) == [
        ("PUT", "/admin/order/cancel", {"id": record["id"], "cancelReason": "No rider available"})]
    window.reload()
    assert not [b for b in window.life_buttons.values() if b.isVisible()], "nothing after a cancellation"
    window.state_filter.setCurrentIndex(window.state_filter.findData("cancelled"))
    assert [window.model.entry(r).event.order_id for r in range(window.model.rowCount())] == [str(record["id"])]
    # The waiting order offers none of these: it is accepted or rejected first.
    window.state_filter.setCurrentIndex(0)
    row = next(r for r in range(window.model.rowCount())
               if window.model.entry(r).event.order_id == str(waiting["id"]))
    window.table.selectRow(row)
    assert not [b for b in window.life_buttons.values() if b.isVisible()]


@pytest.mark.needs_session
def test_a_refused_complete_is_told_as_a_sentence_named_by_the_order(qtbot, shop):
    log = NotificationLog()
    record = shop.accepted(qtbot)
    log.mark()
    assert shop.life.act(shop.ledger.recent(1)[0].event, "complete")  # before 派送
    title = f"Order {record['number']} not completed"
    told = shown(qtbot, log, lambda e: e["summary"] == title)
    assert told["body"] == f"Order {record['number']} is not out for delivery yet: send it out first."
    assert shop.ledger.recent(1)[0].state == "accepted"


@pytest.mark.needs_session
def test_the_windows_header_shows_the_back_ends_figures_and_the_ledgers_without_them(qtbot, shop, tmp_path):
    from notifier.core.today import at_a_glance
    from notifier.desktop.order_life import TodayGlance, glance_header, glance_tooltip

    record = shop.accepted(qtbot)
    with shop.double._lock:
        shop.double.orders[record["id"]]["status"] = COMPLETED
    glance = TodayGlance(shop.ledger, lambda: shop.intake.source, interval_s=60)
    seen = []
    glance.updated.connect(seen.append)
    glance.refresh()
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    today = seen[-1].today
    business = shop.double.state.requests
    assert ("GET", "/admin/workspace/businessData", None) in business
    amount = Decimal(str(record["amount"]))
    assert today.from_back_end and (today.valid_orders, today.takings) == (1, amount)
    window = shop.window(qtbot)
    window.set_glance(glance_header(seen[-1], "en"))
    assert window.glance_label.isVisible()
    assert window.glance_label.text().startswith(f"Today: takings ¥{amount:.2f} · valid orders 1 · average ¥{amount:.2f}")
    assert glance_tooltip(seen[-1], "en") == f"Today ¥{amount:.2f} · valid orders 1 · yesterday ¥0.00"
    glance.stop()
    # A source without figures of its own: the ledger's (the accepted order is valid there).
    mine = at_a_glance(shop.ledger)
    assert not mine.today.from_back_end and mine.today.valid_orders == 1 and mine.today.takings == amount
