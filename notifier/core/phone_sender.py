"""Sends escalation messages to the owner's phone: never blocking the caller, retrying each
target on its own, saying what fails.

`put()` only queues: the caller (the Qt main thread, a source, the reference server's loop) never
waits on the keyring or the network. Threads, and why each exists:
- one *dispatcher* reads the targets from the keyring for each message (a keyring call may wait
  on D-Bus or an unlock prompt) and hands the message to every target's worker;
- one *worker per target* sends its messages in order and retries a failing one with backoff
  (`connection.Backoff`), so a service that is down or hangs for its whole timeout delays only
  its own messages, never another target's, and never an alert on the PC.
A message still unsent after `GIVE_UP_AFTER_S` is dropped (an order an hour old is settled one
way or another by then) and said so. An unsent message is dropped too when a newer one with the
same `replaces` key is queued ("connection back" makes an unsent "connection lost" pointless).

The reference server sends each shop's messages to that shop's own targets: `put(message,
targets)` names them, and then the keyring is not read. A worker there ends after `idle_exit_s`
with nothing to send, so the threads are as many as the targets with messages on their way, not
every shop's target ever used; `max_sending` bounds how many send at once.

`problems()` is one sentence per failing target, naming the service (`phone_targets.describe`)
and the reason, never the URL; `on_change` is called (from a worker thread) whenever that list
or the count of sent messages changes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from notifier.core import phone_targets
from notifier.core.connection import Backoff
from notifier.core.escalation_wording import PhoneMessage
from notifier.core.i18n import tr

log = logging.getLogger(__name__)

GIVE_UP_AFTER_S = 3600.0
RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0
TARGETS_SECRET = "escalation_targets"

# () -> (the target URLs, or a sentence saying why they could not be read)
TargetReader = Callable[[], tuple[list[str], str | None]]
Sender = Callable[[str, PhoneMessage], phone_targets.Delivery]


def targets_from(secrets) -> TargetReader:
    """Reads the targets from a `SecretStore` at each call: none saved means no phone alerts."""
    from notifier.core.secrets import SecretState

    def read() -> tuple[list[str], str | None]:
        value, problem = secrets.get(TARGETS_SECRET)
        if value is None:
            if problem is None or problem.state is SecretState.NOT_FOUND:
                return [], None
            return [], problem.sentence()
        return phone_targets.split_targets(value), None

    return read


@dataclass(slots=True)
class _Item:
    message: PhoneMessage
    queued_at: float
    superseded: bool = False


@dataclass(slots=True)
class _Target:
    url: str
    label: str
    items: deque[_Item] = field(default_factory=deque)
    problem: str = ""
    thread: threading.Thread | None = None
    wake: threading.Condition | None = None  # its worker waits on this (over the sender's lock)


class PhoneSender:
    def __init__(self, read_targets: TargetReader, *, on_change: Callable[[], None] = lambda: None,
                 send: Sender = phone_targets.send,
                 backoff: Callable[[], Backoff] = lambda: Backoff(RETRY_BASE_S, RETRY_CAP_S),
                 give_up_after_s: float = GIVE_UP_AFTER_S, clock: Callable[[], float] = time.monotonic,
                 idle_exit_s: float | None = None, max_sending: int | None = None):
        self._read_targets = read_targets
        self._on_change = on_change
        self._send = send
        self._backoff = backoff
        self._give_up_after_s = give_up_after_s
        self._clock = clock
        self._idle_exit_s = idle_exit_s
        # Sends in progress at once (None: one per target). A send is mostly Python work (Apprise
        # builds the request): a thousand at once would starve the caller's own thread of the
        # interpreter. A target that hangs holds one place until its timeout.
        self._sending = threading.Semaphore(max_sending) if max_sending else contextlib.nullcontext()
        self._inbox: queue.Queue[tuple[PhoneMessage, tuple[str, ...] | None] | None] = queue.Queue()
        self._targets: dict[str, _Target] = {}
        # One lock for all the state; each target's worker waits on a condition of its own (over
        # that lock), so news for one target wakes only its worker, not a thousand others.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopped = False
        self._read_problem = ""
        self.sent = 0  # deliveries that went through (a message to two targets counts twice)
        # Started by the first message: a shop without phone alerts keeps no thread for them.
        self._dispatcher: threading.Thread | None = None

    # -- the caller's side ---------------------------------------------------------------------

    def put(self, message: PhoneMessage, targets: Iterable[str] | None = None) -> None:
        """Queue a message for every target (or for `targets` only); returns at once."""
        with self._cond:
            if self._dispatcher is None and not self._stopped:
                self._dispatcher = threading.Thread(target=self._dispatch, name="phone-dispatch",
                                                    daemon=True)
                self._dispatcher.start()
        self._inbox.put((message, None if targets is None else tuple(targets)))

    def problems(self) -> list[str]:
        """One sentence per failing target (and one when the targets cannot be read)."""
        with self._cond:
            found = [target.problem for target in self._targets.values() if target.problem]
            return ([self._read_problem] if self._read_problem else []) + found

    def waiting(self) -> int:
        """Deliveries queued or being retried."""
        with self._cond:
            return sum(len(t.items) for t in self._targets.values()) + self._inbox.qsize()

    def stop(self, timeout: float = 0.5) -> None:
        """No more sending. A request in flight is left to its own timeout (daemon threads)."""
        with self._cond:
            self._stopped = True
            for target in self._targets.values():
                target.wake.notify_all()
        self._inbox.put(None)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)

    # -- the dispatcher thread -----------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            queued = self._inbox.get()
            if queued is None or self._stopped:
                return
            message, named = queued
            if named is not None:
                urls, problem = list(named), None
            else:
                try:
                    urls, problem = self._read_targets()
                except Exception as exc:  # noqa: BLE001 - a keyring fault must not end the thread
                    urls, problem = [], tr("the targets could not be read ({error})", error=type(exc).__name__)
                self._set_read_problem(tr("Phone alerts: {problem}", problem=problem) if problem else "")
                if problem is None:
                    self._forget_all_but(urls)
            if not urls:
                log.info("phone message not sent: %s", "no targets" if not problem else problem)
                continue
            for url in dict.fromkeys(urls):  # the same target twice gets one message
                self._queue(url, message)

    def _forget_all_but(self, urls: list[str]) -> None:
        """Targets the owner removed: their waiting messages and their problems go with them."""
        with self._cond:
            gone = [url for url in self._targets if url not in urls]
            for url in gone:
                self._targets.pop(url).wake.notify_all()  # its worker sees it is gone and ends
        if gone:
            self._changed()

    def _set_read_problem(self, sentence: str) -> None:
        with self._cond:
            changed, self._read_problem = sentence != self._read_problem, sentence
        if changed:
            self._changed()

    def _queue(self, url: str, message: PhoneMessage) -> None:
        with self._cond:
            target = self._targets.get(url)
            if target is None:
                target = self._targets[url] = _Target(url, phone_targets.describe(url),
                                                      wake=threading.Condition(self._lock))
            if message.replaces is not None:
                for item in target.items:
                    if item.message.replaces == message.replaces:
                        item.superseded = True
            target.items.append(_Item(message, self._clock()))
            if target.thread is None:
                target.thread = threading.Thread(target=self._work, args=(target,),
                                                 name="phone-target", daemon=True)
                target.thread.start()
            target.wake.notify_all()

    # -- one target's worker thread ------------------------------------------------------------

    def _next(self, target: _Target) -> _Item | None:
        """The next message for this target, dropping superseded and expired ones."""
        with self._cond:
            while not self._stopped and self._targets.get(target.url) is target:
                while target.items and (target.items[0].superseded or
                                        self._clock() - target.items[0].queued_at > self._give_up_after_s):
                    dropped = target.items.popleft()
                    if not dropped.superseded:
                        log.warning("gave up a phone message to %s after %.0f s", target.label,
                                    self._give_up_after_s)
                        target.problem = tr("{target}: a message could not be sent for {minutes} "
                                            "minutes and was given up", target=target.label,
                                            minutes=round(self._give_up_after_s / 60))
                if target.items:
                    return target.items[0]
                if self._idle_exit_s is None:
                    target.wake.wait()
                elif not target.wake.wait(self._idle_exit_s) and not target.items:
                    if self._targets.get(target.url) is target:
                        del self._targets[target.url]  # idle: the next message starts a new worker
                    return None
        return None

    def _work(self, target: _Target) -> None:
        backoff = self._backoff()
        while True:
            item = self._next(target)
            if item is None:
                return
            with self._sending:
                delivery = self._send(target.url, item.message)
            with self._cond:
                if delivery.ok:
                    if target.items and target.items[0] is item:
                        target.items.popleft()
                    target.problem = ""
                    self.sent += 1
                    delay = 0.0
                    backoff.reset()
                elif delivery.unusable:
                    if target.items and target.items[0] is item:
                        target.items.popleft()  # a wrong address: no use trying again
                    target.problem, delay = delivery.reason, 0.0
                else:
                    delay = backoff.next_delay()
                    target.problem = tr("{target}: {reason}; trying again in {seconds} s",
                                        target=target.label, reason=delivery.reason,
                                        seconds=max(1, round(delay)))
            if delivery.ok:
                log.info("phone message sent to %s", target.label)
            else:
                log.warning("phone message to %s failed: %s", target.label, delivery.reason)
            self._changed()
            if delay:
                with self._cond:
                    deadline = self._clock() + delay
                    while not self._stopped and (left := deadline - self._clock()) > 0:
                        target.wake.wait(left)

    def _changed(self) -> None:
        try:
            self._on_change()
        except Exception:  # noqa: BLE001 - a listener's fault must not stop the sending
            log.exception("phone sender listener failed")


def send_test(read_targets: TargetReader, message: PhoneMessage,
              send: Sender = phone_targets.send) -> tuple[list[tuple[str, phone_targets.Delivery]], str | None]:
    """Send one message to every target now, in the caller's thread (the settings dialog's
    button, `notifier doctor --send-test`): [(target as `describe` names it, how it went)], or
    the sentence saying why the targets could not be read."""
    urls, problem = read_targets()
    return [(phone_targets.describe(url), send(url, message)) for url in dict.fromkeys(urls)], problem


def trial(settings: Mapping[str, Any], secrets) -> tuple[bool, str]:
    """The "send a test message" button and `notifier doctor --send-test`: the test message to
    every saved target now, in this thread. (all went through, one line per target)."""
    from notifier.core import escalation_wording as words
    from notifier.core.wording import effective_language

    language = effective_language(settings)
    message = words.trial_message(words.shop_label(settings, language), language)
    results, problem = send_test(targets_from(secrets), message)
    if problem:
        return False, problem
    if not results:
        return False, tr("No phone alert target is saved: enter one and try again.")
    lines = [("✓ " + tr("{target}: sent", target=label)) if delivery.ok
             else ("✗ " + tr("{target}: {reason}", target=label, reason=delivery.reason))
             for label, delivery in results]
    return all(delivery.ok for _label, delivery in results), "\n".join(lines)
