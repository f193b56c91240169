"""The connect → pump → wait → connect loop that every part talking to a peer uses: each order
source, the print worker (a printer for a peer) and the action worker (a back end for a peer).

A part *has* a `ReconnectLoop` and gives it a `Link`: how to open, pump and close one connection,
and what an exception means. The loop owns the part's one thread, publishes every state change,
retries a wrong password or an incomplete setting at a slow pace and anything else quickly at
first (a restarting server, a Wi-Fi hiccup), then backing off to 30 s; `stop`/`reconnect_now`
cut any wait short.

An outbound worker (the printer, the back end's actions) has work only now and then. It gives
the loop `has_work`: whenever that says nothing is waiting, the thread ends (an idle shop PC
runs no printer or action thread), and `wake` — called by whoever queued work — starts it again.
Every new thread asks `has_work` first, so work left over by a crash goes out at `start`. What a socket or TLS failure means (`classify_network_error`) lives here too:
it is the same for every peer, whatever protocol runs over the socket.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from notifier.core.connection import (
    NAME_NOT_FOUND,
    REFUSED,
    TIMED_OUT,
    Backoff,
    ConnectionStatus,
    ConnState,
)

log = logging.getLogger(__name__)

# Within this long after a connection is lost, retries stay quick; after it, the pace eases off.
FAST_RETRY_WINDOW_S = 60.0
FAST_RETRY_CAP_S = 2.0
# A wrong password or a settings mismatch will not fix itself: do not hammer the server.
SLOW_RETRY_S = 30.0
# A connection that lasted this long was healthy: the next failure starts the backoff afresh.
STABLE_AFTER_S = 10.0
# After the thread body itself crashed (a bug), wait this long before running it again.
CRASH_PAUSE_S = 5.0
# What `Link.pump` returns when it has nothing more to do for now (an outbound worker's queue is
# empty): the loop asks `has_work` again at once, without a retry pause.
IDLE = "idle"
CLEAN_ENDINGS = ("stopped", "reconnect requested", IDLE)


def classify_network_error(exc: BaseException) -> tuple[ConnState, str]:
    """What a socket or TLS failure means, whatever protocol ran over it."""
    # A TLS error exists only once `ssl` has been imported (by a wss:// or amqps:// connection);
    # importing it here for the test would map OpenSSL into an app that speaks only ws://.
    ssl = sys.modules.get("ssl")
    if ssl is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ConnState.TLS_FAILURE, f"certificate not trusted: {exc.verify_message}"
        if isinstance(exc, ssl.SSLError):
            return ConnState.TLS_FAILURE, f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return ConnState.UNREACHABLE, NAME_NOT_FOUND
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return ConnState.UNREACHABLE, TIMED_OUT
    if isinstance(exc, ConnectionRefusedError):
        return ConnState.UNREACHABLE, REFUSED
    return ConnState.UNREACHABLE, f"{type(exc).__name__}: {str(exc)[:200]}"


def describe_network_error(exc: BaseException, server: str) -> str:
    """A socket or TLS failure as the owner reads it (a phrase in their language)."""
    state, detail = classify_network_error(exc)
    return ConnectionStatus(ConnState.WAITING, server, detail, reason=state).problem()


def wait_for_work(has_work: Callable[[], Any], nudge: threading.Event, seconds: float,
                  stopping: Callable[[], bool], poll_s: float) -> bool:
    """For an outbound worker (printer, back-end actions): True as soon as `has_work()`, False
    after `seconds` or once `stopping()`. `nudge` (set by whoever queued work) cuts a poll short;
    the poll catches work queued by another process sharing the file."""
    deadline = time.monotonic() + seconds
    while not stopping():
        if has_work():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        nudge.wait(min(poll_s, left))
        nudge.clear()
    return False


class Link(Protocol):
    """What the loop needs of the part it runs: one connection's life, and its label."""

    def server_label(self) -> str:
        """Who the peer is, for people (never a URL with a token in it)."""

    def connect(self) -> Any:
        """Connect; returns what `pump` and `disconnect` need. Raises on failure."""

    def pump(self, handle: Any) -> str:
        """Work on the connection until it ends; returns why (or raises, see `classify`)."""

    def disconnect(self, handle: Any, clean: bool) -> None:
        """Let the connection go (`clean`: the peer still answers, say goodbye)."""

    def classify(self, exc: BaseException) -> tuple[ConnState, str]:
        """What a failure means for the person watching, and a technical detail for the log."""

    def interrupt(self) -> None:
        """Make a `connect` or `pump` that is blocked waiting return now (stop, reconnect now)."""

    def connected_status(self) -> ConnectionStatus:
        """The status to show while connected."""


StatusCallback = Callable[[ConnectionStatus], None]


class ReconnectLoop:
    """Runs a `Link` in a thread of its own (`name`), reconnecting with backoff, until stopped."""

    def __init__(self, link: Link, on_status: StatusCallback, *, name: str,
                 logged_as: str = "connection", has_work: Callable[[], bool] | None = None):
        """`has_work`: for a part that only sends what is queued; called on the loop's thread
        before each connection, and the thread ends when it returns False (see the module
        docstring). Without it the thread runs until `stop`."""
        self.link = link
        self.name = name
        self.logged_as = logged_as  # what its state lines start with in the log
        self._on_status = on_status
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._reconnect_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._has_work = has_work
        # Guards starting and ending the thread; `_wakes` counts the wakes, so a thread that
        # found nothing to do sees whether work was queued since it looked.
        self._life = threading.Lock()
        self._started = False
        self._wakes = 0
        self._status = ConnectionStatus(ConnState.STOPPED, link.server_label())
        self._status_lock = threading.Lock()
        self.connections = 0  # connections that came up, for tests and diagnostics

    # -- for the owner -------------------------------------------------------------------

    def start(self) -> None:
        with self._life:
            self._started = True
            if self._thread and self._thread.is_alive():
                return
            self._stop.clear()
            self._spawn()

    def _spawn(self) -> None:
        self._thread = threading.Thread(target=self._guarded_run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._life:
            self._started = False
            self._stop.set()
            thread = self._thread
        self.wake()
        if thread and thread is not threading.current_thread():
            thread.join(timeout)
        self.publish(ConnectionStatus(ConnState.STOPPED, self.link.server_label()))

    def reconnect_now(self) -> None:
        """Drop the current connection (or the wait before the next attempt) and connect again."""
        self._reconnect_requested.set()
        self.wake()

    def wake(self) -> None:
        """Cut the wait before the next attempt short, and interrupt a blocked connect/pump;
        start the thread again if it ended for lack of work."""
        self._wakeup.set()
        self.link.interrupt()
        self.work_queued()

    def work_queued(self) -> None:
        """Work was queued: start the thread again if it ended for lack of work (a retry wait
        under way is left as it is)."""
        if self._has_work is None:
            return
        with self._life:
            self._wakes += 1
            if self._thread is None and self._started and not self._stop.is_set():
                self._spawn()

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def reconnect_requested(self) -> bool:
        return self._reconnect_requested.is_set()

    def wait_stopped(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopped first; True when stopped."""
        return self._stop.wait(seconds)

    def publish(self, status: ConnectionStatus) -> None:
        with self._status_lock:
            if status == self._status:
                return
            self._status = status
        log.info("%s: %s %s", self.logged_as, status.state, status.detail)
        try:
            self._on_status(status)
        except Exception:  # noqa: BLE001 - a broken observer must not kill the loop
            log.exception("status observer failed")

    # -- the loop ------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        """Wait, unless stopped or asked to reconnect now."""
        deadline = time.monotonic() + seconds
        while not self.stopping and not self._reconnect_requested.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wakeup.wait(left)
            self._wakeup.clear()

    def _guarded_run(self) -> None:
        # Nothing may escape the thread: an exception here would silently end all orders.
        while not self._stop.is_set():
            try:
                self._run()
                return
            except Exception:  # noqa: BLE001
                log.exception("%s crashed; restarting it", self.name)
                if self._stop.wait(CRASH_PAUSE_S):
                    return

    def _ends_idle(self) -> bool:
        """Nothing to do: True when this thread may end (no work was queued since it looked)."""
        if self._has_work is None:
            return False
        while True:
            with self._life:
                seen = self._wakes
            if self._has_work():
                return False
            with self._life:
                if self._stop.is_set():
                    return True
                if self._wakes == seen:
                    self._thread = None  # from here on, `work_queued` starts a new thread
                    return True
            # woken while it looked: look again

    def _run(self) -> None:
        link = self.link
        backoff = Backoff(base=0.5, cap=30.0)
        down_since = time.monotonic()
        while not self.stopping:
            if self._ends_idle():
                return
            self._reconnect_requested.clear()
            self.publish(ConnectionStatus(ConnState.CONNECTING, link.server_label()))
            try:
                handle = link.connect()
            except Exception as exc:  # noqa: BLE001 - every failure is a state, never a crash
                state, reason = link.classify(exc)
                if self.stopping:
                    break
                log.info("connect to %s failed: %s", link.server_label(), reason)
                self._wait_to_retry(backoff, state, reason, down_since)
                continue
            self.connections += 1
            connected_at = time.monotonic()
            self.publish(link.connected_status())
            state, reason = ConnState.UNREACHABLE, "error"
            try:
                reason = link.pump(handle)
            except Exception as exc:  # noqa: BLE001
                state, reason = link.classify(exc)
            finally:
                # Say goodbye only to a peer that still answers: waiting on a dead one would
                # delay telling the user that the connection is gone.
                link.disconnect(handle, clean=reason in CLEAN_ENDINGS)
            if self.stopping:
                break
            if reason != IDLE:
                log.info("connection to %s ended: %s", link.server_label(), reason)
            down_since = time.monotonic()
            if down_since - connected_at > STABLE_AFTER_S:
                backoff.reset()
            if reason == IDLE or self._reconnect_requested.is_set():
                continue
            self._wait_to_retry(backoff, state, reason, down_since)

    def _wait_to_retry(self, backoff: Backoff, state: ConnState, reason: str, down_since: float) -> None:
        label = self.link.server_label()
        if state is ConnState.MISCONFIGURED:
            self.publish(ConnectionStatus(state, label, reason))
            self._sleep(SLOW_RETRY_S)
            return
        if state in (ConnState.UNAUTHORIZED, ConnState.LIMITED):  # retrying soon changes nothing
            delay = SLOW_RETRY_S
        else:
            delay = backoff.next_delay()
            if time.monotonic() - down_since < FAST_RETRY_WINDOW_S:
                delay = min(delay, FAST_RETRY_CAP_S)
        self.publish(ConnectionStatus(ConnState.WAITING, label, reason, delay, state))
        self._sleep(delay)


class OnReconnectLoop:
    """What the owner of a part that runs on a `ReconnectLoop` (its `loop`) calls, and the status
    it shows while connected. The part is the loop's link; the loop itself is a part it has."""

    loop: ReconnectLoop

    def start(self) -> None:
        self.loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.loop.stop(timeout)

    def reconnect_now(self) -> None:
        """Drop the current connection (or the wait before the next attempt) and connect again."""
        self.loop.reconnect_now()

    @property
    def status(self) -> ConnectionStatus:
        return self.loop.status

    @property
    def stopping(self) -> bool:
        return self.loop.stopping

    def publish(self, status: ConnectionStatus) -> None:
        self.loop.publish(status)

    def connected_status(self) -> ConnectionStatus:
        return ConnectionStatus(ConnState.CONNECTED, self.server_label())

    def server_label(self) -> str:
        raise NotImplementedError
