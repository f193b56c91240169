"""The action outbox: the shop's decisions on an order (接单 / 拒单, then 派送 / 完成 / 取消) on
their way to the shop's back end.

Built in the print queue's style (`print_queue.py`), in the ledger's own SQLite file: a decision
is one transaction that both ends the order's alert in the ledger (`accepted_here` /
`rejected_here`, so it stops ringing at once) and queues the action. A crash between the click and
the request therefore loses nothing: the next start finds the action waiting and sends it.

Each row has an idempotency key (source | server | order | action | try, led by the order's
connection id where it has one), sent with the request where the back end takes one. A row keeps
the connection the order came through (`connection_id`): the same order id on another connection
(a second branch on the same server) is another order, with actions and an ending of its own. A second click on the same order finds the first action and queues
nothing (one request for a double click). A click on an order this PC already knows to be
decided elsewhere or cancelled (a stale popup, a window not yet refreshed) queues nothing either
and leaves the history as it is: the PC never sends what it knows to be untrue. A row goes `waiting` → `sending` → `done`, or `failed`
when the back end refused it (its reason kept as a sentence; the order's ending then falls back
to "acknowledged only", and a new click may try again). A row found in `sending` at start-up was
on the wire when the app died: it is sent again marked "in doubt", and the sender checks the
order's state before reporting a refusal (the back end may have taken the first one).

One worker per target (`action_worker.ActionWorker`) sends the rows of its target in id order.
A row is claimed by moving it from `waiting` to `sending` in one statement, so two workers (the
old and the new one while the connection settings change) never both send it. Open one outbox
per process: opening it is what turns a dead run's `sending` rows back into `waiting`.
(The print queue keeps its jobs the same way: both are an `outbox_file.OutboxFile`.)

The actions after 接单 (`order_state.LIFE_ACTIONS`) move the order's `progress` in the same
transaction (派送 → delivering, …), but only from a state `order_state.ALLOWS`; otherwise nothing
is queued (CONTRADICTED, with the state). One action of each kind per order: a second click on
派送 finds the first. A refusal puts the progress back where the click found it (or where the
refusal says the order is now).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from notifier.core.ledger import ORDER_COLUMNS, ORDER_IS, Ending
from notifier.core.order_state import ALLOWS, LEADS_TO, LIFE_ACTIONS, STATE_SQL
from notifier.core.outbox_file import OutboxFile

log = logging.getLogger(__name__)

ACCEPT, REJECT = "accept", "reject"
WAITING, SENDING, DONE, FAILED = "waiting", "sending", "done", "failed"
# A decision not queued because the order's history already says it ended otherwise.
CONTRADICTED = "contradicted"
# Endings that someone else decided: a decision here after them would contradict the back end.
DECIDED_ELSEWHERE = (Ending.ACCEPTED_ELSEWHERE, Ending.REJECTED_ELSEWHERE, Ending.CANCELLED)
KEEP_DONE_DAYS = 7
# A reject reason is a short sentence; the back end's column is usually 255 characters.
MAX_REASON_CHARS = 200


class OutboxError(RuntimeError):
    """The outbox cannot be read or written."""


@dataclass(frozen=True, slots=True)
class OrderAction:
    id: int
    key: str  # the idempotency key
    target: str
    source: str
    server: str
    order_id: str
    action: str  # ACCEPT or REJECT, or one of order_state.LIFE_ACTIONS
    reason: str | None
    in_doubt: bool  # it was on the wire when the app stopped: the back end may have it already
    attempts: int
    created_at: float
    number: str = ""  # what a person calls the order (its number, else its id): for sentences
    connection_id: str = ""  # the connection the order came through (OrderEvent.connection_id)

    @property
    def order(self) -> tuple[str, str, str, str]:
        """What the order is known by in the ledger (`ledger.ORDER_IS`'s parameters)."""
        return (self.source, self.server, self.order_id, self.connection_id)


@dataclass(frozen=True, slots=True)
class Decision:
    queued: bool  # False: this order already has an action waiting or done (a double click)
    key: str  # the action's idempotency key (the earlier one for a double click; "" if none)
    state: str  # CONTRADICTED: nothing queued, the history says `ended` (decided elsewhere)
    ended: str | None = None
    order_state: str | None = None  # for a life action CONTRADICTED: the state that refused it


def _action_key(order: tuple[str, str, str, str], action: str, attempt: int) -> str:
    """The idempotency key of an action: the upgraded connection's ("" id) keep the form they
    had before there were several connections."""
    source, server, order_id, connection_id = order
    key = f"{source}|{server}|{order_id}|{action}|{attempt}"
    return f"{connection_id}|{key}" if connection_id else key


class ActionOutbox(OutboxFile):
    table, name, error = "action_outbox", "the action outbox", OutboxError

    # -- the click -------------------------------------------------------------------------

    def decide(self, target: str, source: str, server: str, order_id: str, action: str,
               reason: str | None = None, *, connection_id: str) -> Decision:
        """Accept or reject this order (the one that came through `connection_id`): its alert
        ends here and now, and the action is queued for `target`'s worker, in one transaction. A
        second decision on an order whose action is waiting or done queues nothing and returns
        the first one."""
        order = (source, server, order_id, connection_id)
        if action in LIFE_ACTIONS:
            return self._decide_life(target, order, action, reason)
        if action not in (ACCEPT, REJECT):
            raise ValueError(f"unknown action {action!r}")
        reason = (reason or "").strip()[:MAX_REASON_CHARS] or None
        now = self._clock()

        def work(db: sqlite3.Connection) -> Decision:
            ended = db.execute(
                f"SELECT ended_how FROM events WHERE {ORDER_IS} AND "
                f"ended_how IN ({','.join('?' * len(DECIDED_ELSEWHERE))}) LIMIT 1",
                (*order, *DECIDED_ELSEWHERE)).fetchone()
            if ended:
                return Decision(False, "", CONTRADICTED, ended[0])
            earlier = db.execute(
                f"SELECT key, state FROM action_outbox WHERE {ORDER_IS} "
                "AND state != 'failed' ORDER BY id LIMIT 1", order).fetchone()
            if earlier:
                return Decision(False, earlier[0], earlier[1])
            tries = db.execute(f"SELECT COUNT(*) FROM action_outbox WHERE {ORDER_IS}", order).fetchone()[0]
            key = _action_key(order, action, tries + 1)
            db.execute(
                "INSERT INTO action_outbox(key, target, source, server, order_id, connection_id, "
                "action, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, target, *order, action, reason, now))
            how = Ending.ACCEPTED_HERE if action == ACCEPT else Ending.REJECTED_HERE
            db.execute(
                "UPDATE events SET acknowledged_at=COALESCE(acknowledged_at, ?), ended_how=?, "
                f"ended_at=?, end_reason=? WHERE {ORDER_IS}",
                (now, how, now, reason, *order))
            return Decision(True, key, WAITING)

        return self._transaction(work)

    def _decide_life(self, target: str, order: tuple[str, str, str, str], action: str,
                     reason: str | None) -> Decision:
        """派送, 完成 or 取消: queued only from a state that allows it, moving the order's
        progress in the same transaction (see the module docstring)."""
        reason = (reason or "").strip()[:MAX_REASON_CHARS] or None
        now = self._clock()

        def work(db: sqlite3.Connection) -> Decision:
            earlier = db.execute(
                f"SELECT key, state FROM action_outbox WHERE {ORDER_IS} "
                "AND action=? AND state != 'failed' ORDER BY id LIMIT 1",
                (*order, action)).fetchone()
            if earlier:
                return Decision(False, earlier[0], earlier[1])
            row = db.execute(
                f"SELECT {STATE_SQL}, progress FROM events WHERE {ORDER_IS} "
                "AND kind='new_order' ORDER BY id DESC LIMIT 1", order).fetchone()
            if row is None or row[0] not in ALLOWS[action]:
                return Decision(False, "", CONTRADICTED, order_state=row[0] if row else None)
            tries = db.execute(
                f"SELECT COUNT(*) FROM action_outbox WHERE {ORDER_IS} AND action=?",
                (*order, action)).fetchone()[0]
            key = _action_key(order, action, tries + 1)
            db.execute(
                "INSERT INTO action_outbox(key, target, source, server, order_id, connection_id, "
                "action, reason, prior_progress, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, target, *order, action, reason, row[1], now))
            db.execute(
                f"UPDATE events SET progress=?, end_reason=COALESCE(?, end_reason) WHERE {ORDER_IS}",
                (LEADS_TO[action], reason, *order))
            return Decision(True, key, WAITING)

        return self._transaction(work)

    # -- the worker's side -------------------------------------------------------------------

    def next_action(self, target: str) -> OrderAction | None:
        row = self._execute(
            "SELECT a.id, a.key, a.target, a.source, a.server, a.order_id, a.action, a.reason, "
            "a.in_doubt, a.attempts, a.created_at, (SELECT e.order_number FROM events e WHERE "
            "e.source=a.source AND e.server=a.server AND e.order_id=a.order_id AND "
            "e.connection_id=a.connection_id AND e.order_number IS NOT NULL LIMIT 1), "
            "a.connection_id FROM action_outbox a WHERE a.target=? AND "
            "a.state='waiting' ORDER BY a.id LIMIT 1", (target,)).fetchone()
        if row is None:
            return None
        (id_, key, target_, source, server, order_id, action, reason, in_doubt, attempts,
         created, number, connection_id) = row
        return OrderAction(id_, key, target_, source, server, order_id, action, reason,
                           bool(in_doubt), attempts, created, number or order_id, connection_id)

    def mark_sending(self, action_id: int) -> bool:
        """Claim the action before its request goes out (False: another worker has it). From
        here until `mark_done` it is in doubt."""
        return self._execute(
            "UPDATE action_outbox SET state='sending', attempts=attempts+1 WHERE id=? AND state='waiting'",
            (action_id,)).rowcount == 1

    def mark_done(self, action_id: int) -> None:
        self._execute("UPDATE action_outbox SET state='done', done_at=?, last_error=NULL WHERE id=?",
                      (self._clock(), action_id))

    def mark_retry(self, action_id: int, error: str) -> None:
        """No answer (offline, timeout, 5xx): waiting again, in doubt, for the next attempt."""
        self._execute("UPDATE action_outbox SET state='waiting', in_doubt=1, last_error=? WHERE id=?",
                      (error[:300], action_id))

    def mark_refused(self, action: OrderAction, sentence: str, ending: str | None = None, *,
                     progress: str | None = None) -> None:
        """The back end said no: the action failed for good with this reason, and the order's
        ending says so (`ending`, e.g. CANCELLED, when the refusal told us what happened; else
        "acknowledged only" — it stays silent here, but nobody accepted it). For 派送 / 完成 /
        取消 the order's progress goes back to what it was before the click, or to `progress`
        when the refusal said how far the order is."""
        now = self._clock()

        def work(db: sqlite3.Connection) -> None:
            db.execute("UPDATE action_outbox SET state='failed', last_error=?, done_at=? WHERE id=?",
                       (sentence[:300], now, action.id))
            if action.action in LIFE_ACTIONS:
                self._undo_progress(db, action, ending, progress, now)
                return
            db.execute(
                f"UPDATE events SET ended_how=?, ended_at=?, end_reason=? WHERE {ORDER_IS} "
                "AND ended_how IN (?, ?)",
                (ending or Ending.ACKNOWLEDGED, now, sentence[:300], *action.order,
                 Ending.ACCEPTED_HERE, Ending.REJECTED_HERE))

        self._transaction(work)

    @staticmethod
    def _undo_progress(db: sqlite3.Connection, action: OrderAction, ending: str | None,
                       progress: str | None, now: float) -> None:
        prior = db.execute("SELECT prior_progress FROM action_outbox WHERE id=?", (action.id,)).fetchone()
        db.execute(
            f"UPDATE events SET progress=? WHERE {ORDER_IS} AND progress=?",
            (progress or (prior[0] if prior else None), *action.order, LEADS_TO[action.action]))
        if ending is not None:
            db.execute(
                "UPDATE events SET acknowledged_at=COALESCE(acknowledged_at, ?), ended_how=?, "
                f"ended_at=? WHERE {ORDER_IS}", (now, ending, now, *action.order))

    # -- reading ---------------------------------------------------------------------------

    def waiting(self, target: str | None = None) -> int:
        if target is None:
            return self._execute(
                "SELECT COUNT(*) FROM action_outbox WHERE state IN ('waiting', 'sending')").fetchone()[0]
        return self._execute(
            "SELECT COUNT(*) FROM action_outbox WHERE target=? AND state IN ('waiting', 'sending')",
            (target,)).fetchone()[0]

    def unsent_orders(self) -> set[tuple[str, str, str, str]]:
        """(source, server, order id, connection id) of orders whose accept / reject has not
        reached the back end yet."""
        return {tuple(r) for r in self._execute(
            f"SELECT {ORDER_COLUMNS} FROM action_outbox WHERE state IN ('waiting', 'sending') "
            "AND action IN (?, ?)", (ACCEPT, REJECT)).fetchall()}

    def unsent_life_actions(self) -> dict[tuple[str, str, str, str], str]:
        """(source, server, order id, connection id) -> the latest 派送 / 完成 / 取消 clicked
        here and not yet taken by the back end."""
        marks = ",".join("?" * len(LIFE_ACTIONS))
        return {tuple(r[:4]): r[4] for r in self._execute(
            f"SELECT {ORDER_COLUMNS}, action FROM action_outbox WHERE state IN "
            f"('waiting', 'sending') AND action IN ({marks}) ORDER BY id", LIFE_ACTIONS).fetchall()}


    def expire(self) -> int:
        cutoff = self._clock() - KEEP_DONE_DAYS * 86400
        return self._execute(
            "DELETE FROM action_outbox WHERE state IN ('done', 'failed') AND done_at < ?",
            (cutoff,)).rowcount
