"""Accepting, rejecting, 派送, 完成 and 取消 of sky-take-out orders through the admin API, and
reading what became of an order that an action found elsewhere.

The admin API answers `{"code":1,"msg":null,"data":…}` when it took an action and
`{"code":0,"msg":"订单状态错误"}` when the order is no longer waiting. That message does not say
why, so on a refusal the order's details are read: a cancelled order is told as cancelled, an
order someone else accepted as accepted elsewhere, and an action that was on the wire when the
app stopped (`in_doubt`) and finds its own result already there counts as done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from notifier.core.action_outbox import ACCEPT, REJECT, OrderAction
from notifier.core.action_worker import ActionRefused
from notifier.core.i18n import tr
from notifier.core.ledger import Ending
from notifier.core.order_state import CANCEL, COMPLETE, DELIVER, LEADS_TO
from notifier.core.settings import Settings
from notifier.core.sources.backend_client import DECISION, BackEndClient
from notifier.core.sources.skytakeout_admin import (
    CANCELLED,
    CONFIRMED,
    PROGRESS_OF_STATUS,
    AdminApi,
    AdminApiError,
    ending_of,
)

log = logging.getLogger(__name__)

# Each decision the shop can send, as one admin API request on the same client.
REQUESTS: dict[str, Callable[[AdminApi, OrderAction], None]] = {
    ACCEPT: lambda api, action: api.confirm(action.order_id),
    REJECT: lambda api, action: api.reject(action.order_id, action.reason or tr("The shop is busy")),
    DELIVER: lambda api, action: api.deliver(action.order_id),
    COMPLETE: lambda api, action: api.complete(action.order_id),
    CANCEL: lambda api, action: api.cancel(action.order_id, action.reason or tr("The shop cancelled it")),
}
CAPABILITIES = frozenset(REQUESTS)


def actions_unavailable(settings: Settings) -> str | None:
    """Why this shop cannot accept or reject from here (a sentence), or None when it can."""
    if not (settings["skytakeout.admin_url"] and settings["skytakeout.admin_user"]):
        return tr("No admin account configured — this PC can only stop the ringing.")
    return None


class SkyTakeOutActions:
    """The action sender for one sky-take-out back end (see action_worker.ActionSender): each
    decision is one request on the source's admin client (its queue, its worker, its login)."""

    def __init__(self, client: BackEndClient[AdminApi], label: str):
        self.client = client
        self._label = label

    def label(self) -> str:
        return self._label

    def close(self) -> None:
        pass

    def send(self, action: OrderAction) -> None:
        refusal, details = self.client.call(lambda api: self._send_on(api, action), DECISION)
        if refusal is not None:
            self._explain(action, refusal, details)

    @staticmethod
    def _send_on(api: AdminApi, action: OrderAction) -> tuple[str | None, dict | None]:
        """On the client's worker: the request, and after a refusal the order's details (what
        became of it). Returns (refusal, details); raises when the back end did not answer."""
        try:
            REQUESTS[action.action](api, action)
            return None, None
        except AdminApiError as exc:
            if exc.refusal is None:
                raise  # offline, a 5xx, a wrong password: retried by the worker
            refusal = exc.refusal
        try:
            return refusal, api.details(action.order_id)
        except AdminApiError as exc:
            log.info("could not read order %s after a refusal: %s", action.order_id, exc)
            return refusal, None

    @staticmethod
    def _explain(action: OrderAction, refusal: str, details: dict | None) -> None:
        """Turn a refusal into what happened to the order (returns when it is in fact done)."""
        if action.action in LEADS_TO:
            _explain_life(action, refusal, details)
            return
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


def _explain_life(action: OrderAction, refusal: str, details: dict | None) -> None:
    """A refused 派送 / 完成 / 取消, as a sentence named by the order's number, with how far the
    order is (the refusal's outcome, see action_worker.OUTCOME_PROGRESS)."""
    status = details.get("status") if details else None
    order = action.number or action.order_id
    now = PROGRESS_OF_STATUS.get(status)
    if action.in_doubt and now == LEADS_TO[action.action]:
        return  # our own earlier request went through before the app stopped
    if status == CANCELLED and not (details or {}).get("rejectionReason"):
        if action.action == CANCEL:
            return  # cancelled already, as the click wanted
        raise ActionRefused(tr("Order {order} was cancelled; it can no longer be delivered or completed.",
                               order=order), "cancelled")
    if action.action == COMPLETE and status == CONFIRMED:
        raise ActionRefused(tr("Order {order} is not out for delivery yet: send it out first.",
                               order=order))
    if now == "completed":
        raise ActionRefused(tr("Order {order} was already completed.", order=order), "completed")
    if now == "delivering" and action.action == DELIVER:
        raise ActionRefused(tr("Order {order} is already out for delivery.", order=order), "delivering")
    raise ActionRefused(tr("The shop's system refused it for order {order}: {message}",
                           order=order, message=refusal))
