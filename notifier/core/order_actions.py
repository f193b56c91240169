"""Accept or reject an order from here, and 派送 / 完成 / 取消 it after that: what the
notification, the orders window and the tray call, and what says whether this shop's back end
can take it at all (`unavailable`) and which of the order's life it takes (`offered`).

A decision goes into the action outbox (ending the alert here in the same transaction) and wakes
the worker that sends it; the outcome comes back through `on_result` on the worker's thread. A
source that cannot take actions (no admin account, a protocol without a reply channel) leaves
acknowledging as the only way, and `unavailable` says why in one sentence. Which sender, and why
there is none, each source says itself (`Source.action_sender`, `Source.actions_unavailable`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from notifier.core.action_outbox import ACCEPT, REJECT, ActionOutbox, Decision
from notifier.core.action_worker import ActionWorker, ResultCallback
from notifier.core.events import OrderEvent
from notifier.core.i18n import tr
from notifier.core.order_state import CANCEL, COMPLETE, DELIVER, offered
from notifier.core.sources.base import Source

log = logging.getLogger(__name__)


def worker_target(protocol: str, server_label: str, scope: str) -> str:
    """What a connection's actions are queued for and its worker sends (`ActionOutbox` rows'
    `target`): led by the connection's scope, so two connections to one server never send each
    other's actions. (ledger_schema's version 10 gives the rows it upgrades the same.)"""
    target = f"{protocol}:{server_label}"
    return f"{scope}|{target}" if scope else target


class OrderActions:
    def __init__(self, ledger_path: Path | str, source: Source,
                 on_result: ResultCallback = lambda *_a: None, *, outbox: ActionOutbox | None = None,
                 scope: str = ""):
        """`outbox`: the process's one outbox when it outlives this object (the app replaces
        OrderActions when the connection settings change); else one is opened and owned.
        `scope`: the source's connection's (connections.Connection.scope): it leads the worker's
        target, so two connections to one server (two queues on one broker) never send each
        other's actions; the upgraded connection's ("") keeps the target of its older rows."""
        self.source = source
        sender = source.action_sender()
        self.outbox: ActionOutbox | None = None
        self.worker: ActionWorker | None = None
        self.target = worker_target(source.protocol, source.server_label(), scope)
        self.capabilities: frozenset[str] = frozenset()
        if sender is None:
            return
        self.capabilities = source.action_capabilities()
        self._owns_outbox = outbox is None
        self.outbox = outbox or ActionOutbox(ledger_path)
        self.worker = ActionWorker(source.settings, self.outbox, sender, self.target,
                                   on_result=on_result)
        self.worker.start()  # actions a crash left waiting go out now

    @property
    def unavailable(self) -> str | None:
        """Why accept / reject cannot be offered for this shop, or None when they can."""
        if self.worker is not None:
            return None
        return self.source.actions_unavailable() or tr("This connection cannot accept or reject orders — this PC can only stop the ringing.")

    def accept(self, event: OrderEvent) -> Decision:
        return self._decide(event, ACCEPT, None)

    def reject(self, event: OrderEvent, reason: str) -> Decision:
        return self._decide(event, REJECT, reason)

    def deliver(self, event: OrderEvent) -> Decision:
        """派送: the order is out for delivery."""
        return self._decide(event, DELIVER, None)

    def complete(self, event: OrderEvent) -> Decision:
        """完成: the order reached the customer (or was picked up)."""
        return self._decide(event, COMPLETE, None)

    def cancel(self, event: OrderEvent, reason: str) -> Decision:
        """取消 by the shop, with the reason the customer is told."""
        return self._decide(event, CANCEL, reason)

    def offered(self, state: str) -> tuple[str, ...]:
        """The actions after 接单 to offer for an order in `state` (an order_state value)."""
        return offered(state, self.capabilities) if self.worker is not None else ()

    def _decide(self, event: OrderEvent, action: str, reason: str | None) -> Decision:
        if self.outbox is None or self.worker is None:
            raise RuntimeError(self.unavailable)
        decision = self.outbox.decide(self.target, event.source, event.server, event.order_id,
                                      action, reason, connection_id=event.connection_id)
        if decision.queued:
            self.worker.wake()
        return decision

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.outbox is not None and self._owns_outbox:
            self.outbox.close()
