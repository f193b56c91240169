"""A source running in-process the way the app runs it (OrderIntake + a real ledger), with what a
listener would print recorded for assertions."""

from __future__ import annotations

import threading

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from tests.fakes.util import wait_until


class RunningSource:
    """A source started through OrderIntake, recording what a listener would print."""

    def __init__(self, settings: Settings, ledger: Ledger, secrets: MemorySecrets):
        self.ledger = ledger
        self.intake = OrderIntake(ledger, secrets)
        self.orders: list[OrderEvent] = []
        self.statuses: list[ConnectionStatus] = []
        self.details: list[OrderEvent] = []  # orders as their details made them, in arrival order
        self._lock = threading.Lock()
        self.intake.on_order(self._order)
        self.intake.on_details(self._details)
        self.intake.on_status(self._status)
        self.source = self.intake.start(settings)

    def _order(self, event: OrderEvent) -> None:
        with self._lock:
            self.orders.append(event)

    def _details(self, event: OrderEvent) -> None:
        with self._lock:
            self.details.append(event)

    def wait_details(self, order_id: str, timeout: float = 10.0) -> OrderEvent:
        """The order as its details made it, once they have arrived."""
        return wait_until(lambda: next((e for e in self.details if e.order_id == order_id), None),
                          timeout, message=f"no details for order {order_id}")

    def _status(self, status: ConnectionStatus) -> None:
        with self._lock:
            self.statuses.append(status)

    @property
    def state(self) -> ConnState:
        return self.source.status.state

    def wait_state(self, state: ConnState, timeout: float = 10.0) -> ConnectionStatus:
        return wait_until(lambda: self.source.status if self.source.status.state is state else None,
                          timeout, message=f"state {state} not reached; saw {[str(s.state) for s in self.statuses]}")

    def wait_orders(self, count: int, timeout: float = 10.0) -> list[OrderEvent]:
        wait_until(lambda: len(self.orders) >= count, timeout,
                   message=f"expected {count} orders, got {[(e.kind, e.order_id) for e in self.orders]}")
        return list(self.orders)

    def order_ids(self) -> list[str]:
        return [e.order_id for e in self.orders]

    def stop(self) -> None:
        self.intake.stop()


def sky_settings(double, *, admin: bool = False, **changes) -> Settings:
    values = {"connection.protocol": "skytakeout", "connection.url": double.ws_url}
    if admin:
        values.update({"skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": "admin"})
    values.update(changes)
    return Settings(values)
