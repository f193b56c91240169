"""The worker that sends the action outbox to one back end, in order, once where it can.

The print worker's shape (`print_worker.py`): the reconnect loop every peer uses
(`reconnect.ReconnectLoop`, thread "action-worker") with a back end for a peer. The thread lives
only while actions for its target wait (the loop's `has_work`): it starts with the worker (what a
crash left waiting goes out at once) and on `wake` (an action was queued), and ends when the
outbox is empty. `pump` sends the waiting actions oldest first,
each marked `sending` before the request and `done` only after the back end said yes. A refusal
(`ActionRefused`: the order was cancelled, its state does not allow it) fails that action for
good with the back end's reason and goes on with the next; anything else (offline, timeout, a
5xx) leaves it waiting and the loop retries with the usual backoff, so an accept clicked while
offline is sent when the back end answers again.

A sender is anything with `label()`, `send(action)` and `close()`; a source that can take
decisions gives one (`Source.action_sender`: the sky-take-out admin API's client, the reference
server, an AMQP reply target).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from notifier.core.action_outbox import ActionOutbox, OrderAction
from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.ledger import Ending
from notifier.core.reconnect import (
    IDLE,
    OnReconnectLoop,
    ReconnectLoop,
    classify_network_error,
)
from notifier.core.settings import Settings

log = logging.getLogger(__name__)


class ActionRefused(Exception):
    """The back end answered and said no; `str()` is the sentence for the owner. `outcome`
    when the answer told what became of the order: "accepted" or "rejected" (someone else
    decided first) or "cancelled" (by the customer)."""

    def __init__(self, sentence: str, outcome: str | None = None):
        super().__init__(sentence)
        self.outcome = outcome


# What a refusal's outcome means for this PC's history: the decision was someone else's.
OUTCOME_ENDINGS = {"accepted": Ending.ACCEPTED_ELSEWHERE, "rejected": Ending.REJECTED_ELSEWHERE,
                   "cancelled": Ending.CANCELLED}
# ... and for 派送 / 完成 / 取消: how far the order already is (an order_state value).
OUTCOME_PROGRESS = {"delivering": "delivering", "completed": "completed", "cancelled_by_shop": "cancelled"}


class ActionSender(Protocol):
    def label(self) -> str: ...
    def send(self, action: OrderAction) -> None: ...
    def close(self) -> None: ...


# (action, ok, sentence): sentence is None when it went through, else the refusal.
ResultCallback = Callable[[OrderAction, bool, str | None], None]


class ActionWorker(OnReconnectLoop):
    def __init__(self, settings: Settings, outbox: ActionOutbox, sender: ActionSender, target: str,
                 on_status: Callable[[ConnectionStatus], None] = lambda _s: None,
                 *, on_result: ResultCallback = lambda *_a: None):
        self.settings = settings
        self.sender = sender
        self.outbox = outbox
        self.target = target
        self.on_result = on_result
        self.sent = 0  # actions the back end took, for tests and diagnostics
        # Not the shop's order stream: "connection: connected" from here once read as the stream
        # coming back while it was misconfigured.
        self.loop = ReconnectLoop(self, on_status, name="action-worker", logged_as="decisions",
                                  has_work=self._has_work)

    # -- for the owner (and OnReconnectLoop's start, status) ------------------------------

    def wake(self) -> None:
        """An action was queued: send it now instead of at the next poll. A wait before the next
        retry is cut short too: the click is the owner asking now."""
        self.loop.wake()

    def stop(self, timeout: float = 5.0) -> None:
        self.loop.stop(timeout)
        try:
            self.sender.close()
        except Exception:  # noqa: BLE001
            log.exception("closing the action sender failed")

    def _tell(self, action: OrderAction, ok: bool, sentence: str | None) -> None:
        try:
            self.on_result(action, ok, sentence)
        except Exception:  # noqa: BLE001 - the outcome is stored; an observer cannot undo it
            log.exception("action observer failed")

    # -- the loop's link (reconnect.Link) ------------------------------------------------

    def server_label(self) -> str:
        return self.sender.label()

    def interrupt(self) -> None:
        pass  # a request under way ends by its own timeout; a retry wait is cut by the loop

    def _has_work(self) -> bool:
        """The loop asks before each connection; False ends its thread until `wake`."""
        if self.outbox.waiting(self.target):
            return True
        self.publish(self.connected_status())
        return False

    def connect(self) -> ActionSender:
        if self.stopping:
            raise InterruptedError("stopped")
        return self.sender

    def pump(self, sender: ActionSender) -> str:
        while not self.stopping:
            action = self.outbox.next_action(self.target)
            if action is None:
                return IDLE  # back to waiting for an action, at once
            if not self.outbox.mark_sending(action.id):
                continue  # another worker claimed it first
            try:
                sender.send(action)
            except ActionRefused as refused:
                log.info("%s of order %s refused: %s", action.action, action.order_id, refused)
                self.outbox.mark_refused(action, str(refused), OUTCOME_ENDINGS.get(refused.outcome or ""),
                                         progress=OUTCOME_PROGRESS.get(refused.outcome or ""))
                self._tell(action, False, str(refused))
                continue
            except BaseException as exc:
                self.outbox.mark_retry(action.id, f"{type(exc).__name__}: {exc}")
                raise
            self.outbox.mark_done(action.id)
            self.sent += 1
            self._tell(action, True, None)
        return "stopped"

    def disconnect(self, sender: ActionSender, clean: bool) -> None:
        pass  # the sender's connection (if any) outlives one batch: it is closed by `stop`

    def classify(self, exc: BaseException) -> tuple[ConnState, str]:
        if isinstance(exc, InterruptedError):
            return ConnState.STOPPED, "stopped"
        if isinstance(exc, OSError):
            return classify_network_error(exc)
        return ConnState.UNREACHABLE, f"{type(exc).__name__}: {str(exc)[:200]}"
