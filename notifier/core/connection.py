"""Connection state as a value, with a sentence a shop owner understands, and the retry pacing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from notifier.core.i18n import tr

# The fixed `detail`s of a network failure (reconnect.classify_network_error): for logs and
# `notifier listen`'s JSON as they are; `ConnectionStatus.problem()` says them to the owner.
REFUSED, TIMED_OUT, NAME_NOT_FOUND = "connection refused", "connection timed out", "server name not found"


class ConnState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"  # waiting before the next attempt
    UNAUTHORIZED = "unauthorized"
    TLS_FAILURE = "tls_failure"
    UNREACHABLE = "unreachable"
    HISTORY_GAP = "history_gap"
    MISCONFIGURED = "misconfigured"
    LIMITED = "limited"  # the server refuses this PC for now: the shop has as many connections as it allows


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    state: ConnState
    server: str = ""
    detail: str = ""  # technical detail for logs and the listener; never contains secrets
    retry_in: float | None = None
    reason: ConnState | None = None  # while WAITING: why the last attempt failed
    # With several connections (see `combined`): each one's name and status, in the list's order.
    parts: tuple[tuple[str, ConnectionStatus], ...] = ()

    @property
    def healthy(self) -> bool:
        return self.state in (ConnState.CONNECTED, ConnState.HISTORY_GAP)

    @property
    def down(self) -> tuple[str, ...]:
        """Names of the connections that are not up (several connections only)."""
        return tuple(name for name, part in self.parts if not part.healthy)

    def sentence(self) -> str:
        """One sentence for the tray tooltip and the status line, in the current language;
        with several connections, one line per connection, each led by its name."""
        if self.parts:
            return "\n".join(f"{name}: {part.sentence()}" for name, part in self.parts)
        return self._own_sentence()

    def _own_sentence(self) -> str:
        server = self.server or tr("the order server")
        state = self.state
        if state is ConnState.WAITING:
            seconds = max(1, round(self.retry_in or 0))
            why = {
                ConnState.UNAUTHORIZED: tr("Wrong password or token for {server}.", server=server),
                ConnState.TLS_FAILURE: tr(
                    "The secure connection to {server} could not be verified.", server=server
                ),
                ConnState.UNREACHABLE: tr("Cannot reach {server}.", server=server),
                ConnState.LIMITED: tr("{server} already serves as many PCs of this shop as it allows.", server=server),
            }.get(self.reason or ConnState.UNREACHABLE, tr("Connection to {server} lost.", server=server))
            return why + " " + tr("Retrying in {seconds} s.", seconds=seconds)
        return {
            ConnState.STOPPED: tr("Not connected."),
            ConnState.CONNECTING: tr("Connecting to {server}…", server=server),
            ConnState.CONNECTED: tr("Connected to {server}.", server=server),
            ConnState.UNAUTHORIZED: tr(
                "Wrong password or token for {server}. Check it in Settings.", server=server
            ),
            ConnState.TLS_FAILURE: tr(
                "The secure connection to {server} could not be verified. "
                "Check the certificate settings.",
                server=server,
            ),
            ConnState.UNREACHABLE: tr(
                "Cannot reach {server}. Check the network and the server address.", server=server
            ),
            ConnState.HISTORY_GAP: tr(
                "Connected to {server}, but some older orders were no longer available on the "
                "server. Check the order system for orders you may have missed.",
                server=server,
            ),
            ConnState.MISCONFIGURED: tr(
                "The connection settings are incomplete: {detail}", detail=self.detail
            ),
            ConnState.LIMITED: tr(
                "{server} already serves as many PCs of this shop as it allows. Close the app on a "
                "PC that does not need it, or ask the server's operator to allow more.",
                server=server,
            ),
        }[state]

    def problem(self) -> str:
        """Why the last attempt failed, as a short phrase in the owner's language (no retry
        countdown, no technical detail): what a printer line or the doctor shows."""
        server = self.server or tr("the order server")
        said = {REFUSED: tr("{server} refused the connection", server=server),
                TIMED_OUT: tr("{server} did not answer in time", server=server),
                NAME_NOT_FOUND: tr("the name {server} was not found", server=server)}.get(self.detail)
        if said:
            return said
        reason = self.reason if self.state is ConnState.WAITING else self.state
        return {
            ConnState.UNAUTHORIZED: tr("wrong password or token for {server}", server=server),
            ConnState.TLS_FAILURE: tr("the secure connection to {server} could not be verified", server=server),
        }.get(reason, tr("cannot reach {server}", server=server))

    @property
    def severity(self) -> int:
        """How bad this state is for the shop (0: orders arrive); the tray shows the worst."""
        if self.healthy:
            return 0
        if self.state in (ConnState.CONNECTING, ConnState.STOPPED):
            return 1
        if self.state is ConnState.WAITING and self.reason not in (
                ConnState.UNAUTHORIZED, ConnState.TLS_FAILURE):
            return 2
        return 3

    def to_json_dict(self) -> dict[str, object]:
        return {
            "event": "connection",
            "state": str(self.state),
            "detail": self.detail,
            "server": self.server,
            "retry_in": self.retry_in,
            "reason": str(self.reason) if self.reason else None,
            "sentence": self.sentence(),
        }


class Backoff:
    """Exponential backoff with full jitter that never gives up and never waits past `cap`."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 32)
        # Half fixed, half random: spread clients out without ever retrying instantly.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def combined(named: list[tuple[str, ConnectionStatus]]) -> ConnectionStatus:
    """The state of several connections as one: the worst one's (the tray's icon shows it,
    and its server is led by the connection's name), with every connection's in `parts`.
    One connection: its status as it is."""
    if len(named) == 1:
        return named[0][1]
    if not named:
        return ConnectionStatus(ConnState.STOPPED)
    name, worst = max(named, key=lambda pair: pair[1].severity)  # the first of the worst
    return ConnectionStatus(worst.state, f"{name} ({worst.server})" if worst.server else name,
                            worst.detail, worst.retry_in, worst.reason, tuple(named))
