"""The connect → pump → wait → connect loop every connection-owning source shares.

Every state change is published, a wrong password or an incomplete setting is retried at a slow
pace, anything else quickly at first (a restarting server, a Wi-Fi hiccup) then backing off to
30 s, and `stop`/`reconnect_now` cut any wait short. Protocols only say how to open, pump and
close one connection, and what an exception means.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from abc import abstractmethod
from typing import Any

from notifier.core.connection import (
    NAME_NOT_FOUND,
    REFUSED,
    TIMED_OUT,
    Backoff,
    ConnectionStatus,
    ConnState,
)
from notifier.core.sources.base import Source

log = logging.getLogger(__name__)

# Within this long after a connection is lost, retries stay quick; after it, the pace eases off.
FAST_RETRY_WINDOW_S = 60.0
FAST_RETRY_CAP_S = 2.0
# A wrong password or a settings mismatch will not fix itself: do not hammer the server.
SLOW_RETRY_S = 30.0
# A connection that lasted this long was healthy: the next failure starts the backoff afresh.
STABLE_AFTER_S = 10.0
CLEAN_ENDINGS = ("stopped", "reconnect requested")


def classify_network_error(exc: BaseException) -> tuple[ConnState, str]:
    """What a socket or TLS failure means, whatever protocol ran over it."""
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


def wait_for_work(has_work, nudge: threading.Event, seconds: float, stopping, poll_s: float) -> bool:
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


class ReconnectingSource(Source):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._wakeup = threading.Event()
        self._reconnect_requested = threading.Event()
        self.connections = 0  # connections that came up, for tests and diagnostics

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> Any:
        """Connect; returns what `_pump` and `_close` need. Raises on failure."""

    @abstractmethod
    def _pump(self, handle: Any) -> str:
        """Receive until the connection ends; returns why (or raises, see `_classify`)."""

    @abstractmethod
    def _close(self, handle: Any, clean: bool) -> None:
        """Let the connection go (`clean`: the peer still answers, say goodbye)."""

    @abstractmethod
    def _classify(self, exc: BaseException) -> tuple[ConnState, str]:
        """What a failure means for the person watching, and a technical detail for the log."""

    def _interrupt(self) -> None:
        """Make a pump that is blocked waiting for data return now (stop, reconnect now)."""

    def connected_status(self) -> ConnectionStatus:
        return ConnectionStatus(ConnState.CONNECTED, self.server_label())

    # -- waking the thread ---------------------------------------------------------------

    def _wake(self, reconnect: bool = False) -> None:
        if reconnect:
            self._reconnect_requested.set()
        self._wakeup.set()
        self._interrupt()

    def _sleep(self, seconds: float) -> None:
        """Wait, unless stopped or asked to reconnect now."""
        deadline = time.monotonic() + seconds
        while not self.stopping and not self._reconnect_requested.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wakeup.wait(left)
            self._wakeup.clear()

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(base=0.5, cap=30.0)
        down_since = time.monotonic()
        while not self.stopping:
            self._reconnect_requested.clear()
            self.publish(ConnectionStatus(ConnState.CONNECTING, self.server_label()))
            try:
                handle = self._open()
            except Exception as exc:  # noqa: BLE001 - every failure is a state, never a crash
                state, reason = self._classify(exc)
                log.info("connect to %s failed: %s", self.server_label(), reason)
                self._wait_to_retry(backoff, state, reason, down_since)
                continue
            self.connections += 1
            connected_at = time.monotonic()
            self.publish(self.connected_status())
            state, reason = ConnState.UNREACHABLE, "error"
            try:
                reason = self._pump(handle)
            except Exception as exc:  # noqa: BLE001
                state, reason = self._classify(exc)
            finally:
                # Say goodbye only to a peer that still answers: waiting on a dead one would
                # delay telling the user that the connection is gone.
                self._close(handle, clean=reason in CLEAN_ENDINGS)
            if self.stopping:
                break
            log.info("connection to %s ended: %s", self.server_label(), reason)
            down_since = time.monotonic()
            if down_since - connected_at > STABLE_AFTER_S:
                backoff.reset()
            if self._reconnect_requested.is_set():
                continue
            self._wait_to_retry(backoff, state, reason, down_since)

    def _wait_to_retry(self, backoff: Backoff, state: ConnState, reason: str, down_since: float) -> None:
        if state is ConnState.MISCONFIGURED:
            self.publish(ConnectionStatus(state, self.server_label(), reason))
            self._sleep(SLOW_RETRY_S)
            return
        if state in (ConnState.UNAUTHORIZED, ConnState.LIMITED):  # retrying soon changes nothing
            delay = SLOW_RETRY_S
        else:
            delay = backoff.next_delay()
            if time.monotonic() - down_since < FAST_RETRY_WINDOW_S:
                delay = min(delay, FAST_RETRY_CAP_S)
        self.publish(ConnectionStatus(ConnState.WAITING, self.server_label(), reason, delay, state))
        self._sleep(delay)
