"""The bridge carries events from source threads to the main thread, batched per loop turn."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent, OrderKind
from notifier.desktop.bridge import CoreBridge


def _event(n: int) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, str(n), "json", "shop.example", order_number=str(n))


def test_a_thousand_events_from_a_thread_arrive_in_few_batches_on_the_main_thread(qtbot):
    bridge = CoreBridge()
    batches: list[list[OrderEvent]] = []
    threads: set = set()
    singles: list[OrderEvent] = []
    bridge.orders.connect(lambda events: (batches.append(events), threads.add(QThread.currentThread())))
    bridge.order.connect(singles.append)

    def source() -> None:
        for n in range(1000):
            bridge.push_order(_event(n))

    worker = threading.Thread(target=source)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: sum(len(b) for b in batches) == 1000, timeout=5000)

    assert [e.order_id for b in batches for e in b] == [str(n) for n in range(1000)]
    assert singles == [e for b in batches for e in b]
    assert threads == {QThread.currentThread()}
    # Pushed while the main thread was not draining: one wake-up, one batch.
    assert len(batches) == 1


def test_only_the_newest_status_of_a_turn_is_delivered_after_the_orders(qtbot):
    bridge = CoreBridge()
    seen: list[str] = []
    bridge.orders.connect(lambda events: seen.append(f"orders:{len(events)}"))
    bridge.status.connect(lambda status: seen.append(f"status:{status.state}"))

    def source() -> None:
        bridge.push_status(ConnectionStatus(ConnState.CONNECTING, "s"))
        bridge.push_status(ConnectionStatus(ConnState.CONNECTED, "s"))
        bridge.push_order(_event(1))

    worker = threading.Thread(target=source)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    assert seen == ["orders:1", "status:connected"]
