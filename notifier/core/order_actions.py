"""Accept or reject an order from here: what the notification, the orders window and the tray
call, and what says whether this shop's back end can take it at all.

A decision goes into the action outbox (ending the alert here in the same transaction) and wakes
the worker that sends it; the outcome comes back through `on_result` on the worker's thread. A
source that cannot take actions (no admin account, a protocol without a reply channel) leaves
acknowledging as the only way, and `unavailable` says why in one sentence.
"""

from __future__ import annotations

import logging
from pathlib import Path

from notifier.core.action_outbox import ACCEPT, REJECT, ActionOutbox, Decision
from notifier.core.action_worker import ActionWorker, ResultCallback
from notifier.core.events import OrderEvent
from notifier.core.i18n import tr
from notifier.core.sources.base import Source

log = logging.getLogger(__name__)


# Each protocol's sender is imported for a source of that protocol only: the AMQP one brings
# pika, and asyncio with it (~8 MB and ~60 ms at start-up), to an app that may never use them.
def _sender_for(source: Source):
    """Who sends this source's decisions to its back end; None when it has no way to.
    (json, and amqp without a reply target: acknowledging stays local, see docs/amqp.md.)"""
    if source.protocol == "skytakeout":
        from notifier.core.sources import skytakeout_actions

        return skytakeout_actions.sender_for(source)
    if source.protocol == "notifier":
        from notifier.core.sources.notifier_stream import NotifierStreamActions

        return NotifierStreamActions(source.settings, source.secrets, source.server_label())
    if source.protocol == "amqp":
        from notifier.core.sources import amqp_reply

        if amqp_reply.reply_configured(source.settings):
            return amqp_reply.AmqpReplySender(source.settings, source._password, source.server_label())
    return None


class OrderActions:
    def __init__(self, ledger_path: Path | str, source: Source,
                 on_result: ResultCallback = lambda *_a: None, *, outbox: ActionOutbox | None = None):
        """`outbox`: the process's one outbox when it outlives this object (the app replaces
        OrderActions when the connection settings change); else one is opened and owned."""
        self.source = source
        sender = _sender_for(source)
        self.outbox: ActionOutbox | None = None
        self.worker: ActionWorker | None = None
        self.target = f"{source.protocol}:{source.server_label()}"
        if sender is None:
            return
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
        sentence = None
        if self.source.protocol == "skytakeout":
            from notifier.core.sources import skytakeout_actions

            sentence = skytakeout_actions.actions_unavailable(self.source.settings)
        elif self.source.protocol == "amqp":
            sentence = tr("No reply target configured — this PC can only stop the ringing.")
        return sentence or tr("This connection cannot accept or reject orders — this PC can only stop the ringing.")

    def accept(self, event: OrderEvent) -> Decision:
        return self._decide(event, ACCEPT, None)

    def reject(self, event: OrderEvent, reason: str) -> Decision:
        return self._decide(event, REJECT, reason)

    def _decide(self, event: OrderEvent, action: str, reason: str | None) -> Decision:
        if self.outbox is None or self.worker is None:
            raise RuntimeError(self.unavailable)
        decision = self.outbox.decide(self.target, event.source, event.server, event.order_id,
                                      action, reason)
        if decision.queued:
            self.worker.wake()
        return decision

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.outbox is not None and self._owns_outbox:
            self.outbox.close()
