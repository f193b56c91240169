"""Accepting and rejecting sky-take-out orders through the admin API, and reading what became of
an order that stopped waiting.

The admin API answers `{"code":1,"msg":null,"data":…}` when it took an action and
`{"code":0,"msg":"订单状态错误"}` when the order is no longer waiting. That message does not say
why, so on a refusal the order's details are read: a cancelled order is told as cancelled, an
order someone else accepted as accepted elsewhere, and an action that was on the wire when the
app stopped (`in_doubt`) and finds its own result already there counts as done.
"""

from __future__ import annotations

import logging
import threading

from notifier.core.action_outbox import ACCEPT, OrderAction
from notifier.core.action_worker import ActionRefused
from notifier.core.i18n import tr
from notifier.core.ledger import Ending
from notifier.core.settings import Settings
from notifier.core.sources.skytakeout import AdminApi, AdminApiError, SkyTakeOutSource, ending_of

log = logging.getLogger(__name__)

def actions_unavailable(settings: Settings) -> str | None:
    """Why this shop cannot accept or reject from here (a sentence), or None when it can."""
    if not (settings["skytakeout.admin_url"] and settings["skytakeout.admin_user"]):
        return tr("No admin account configured — this PC can only stop the ringing.")
    return None


def sender_for(source: SkyTakeOutSource) -> SkyTakeOutActions | None:
    """The sender for accept / reject through this source's admin API, or None without one."""
    if source.admin is None:
        return None
    # The source's lock: its pull and the status poll use the same AdminApi (and token).
    return SkyTakeOutActions(source.admin, source._admin_lock, source.server_label())


class SkyTakeOutActions:
    """The action sender for one sky-take-out back end (see action_worker.ActionSender)."""

    def __init__(self, admin: AdminApi, lock: threading.Lock, label: str):
        self.admin = admin
        self._lock = lock  # shared with the source's pull: AdminApi is not thread-safe
        self._label = label

    def label(self) -> str:
        return self._label

    def close(self) -> None:
        pass

    def send(self, action: OrderAction) -> None:
        with self._lock:
            try:
                if action.action == ACCEPT:
                    self.admin.confirm(action.order_id)
                else:
                    self.admin.reject(action.order_id, action.reason or tr("The shop is busy"))
                return
            except AdminApiError as exc:
                if exc.refusal is None:
                    raise  # offline, a 5xx, a wrong password: retried by the worker
                refusal = exc.refusal
            details = self._details(action.order_id)
        self._explain(action, refusal, details)

    def _details(self, order_id: str) -> dict | None:
        try:
            return self.admin.details(order_id)
        except AdminApiError as exc:
            log.info("could not read order %s after a refusal: %s", order_id, exc)
            return None

    @staticmethod
    def _explain(action: OrderAction, refusal: str, details: dict | None) -> None:
        """Turn a refusal into what happened to the order (returns when it is in fact done)."""
        ended = ending_of(details) if details else None
        if ended is not None:
            how, reason = ended
            mine = (how == Ending.ACCEPTED_ELSEWHERE and action.action == ACCEPT) or (
                how == Ending.REJECTED_ELSEWHERE and action.action != ACCEPT)
            if action.in_doubt and mine:
                return  # our own earlier request went through before the app stopped
            order = action.number or action.order_id
            if how == Ending.CANCELLED:
                raise ActionRefused(tr("Order {order} was cancelled; it can no longer be accepted or rejected.",
                                       order=order), "cancelled")
            if how == Ending.ACCEPTED_ELSEWHERE:
                raise ActionRefused(tr("Order {order} was already accepted elsewhere.", order=order),
                                    "accepted")
            raise ActionRefused(tr("Order {order} was already rejected elsewhere.", order=order), "rejected")
        raise ActionRefused(tr("The shop's system refused it: {message}", message=refusal))
