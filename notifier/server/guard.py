"""Limits on open connections, so idle or hostile clients cannot starve the server.

Every accepted TCP connection is counted, in total and per remote address. A new connection over
a limit first pushes out the oldest connection of the same kind (same address, or any) that has
not sent a single request yet — an idle socket is worth less than a client about to speak —
and is refused only when there is none: with a 503 answer, never a reset, so a reverse proxy in
front does not take the gateway for dead. The total is kept below the process's open-file limit,
so the server always has descriptors left for its database and for /healthz.

The time to send a request's headers is bounded by aiohttp's keep-alive timer, which also runs
from the moment a connection is accepted (see runner.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

FD_RESERVE = 64  # descriptors kept free for the database, logs and the listening socket


def connection_ceiling(requested: int) -> int:
    """`requested`, lowered to what the open-file limit allows (after raising the soft limit)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to respect
        return requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(16, min(requested, soft - FD_RESERVE))


class ConnectionGuard:
    def __init__(self, max_total: int, max_per_address: int):
        self.max_total = max_total
        self.max_per_address = max(1, max_per_address)
        self._by_address: dict[str, OrderedDict[RequestHandler, None]] = {}
        self._all: OrderedDict[RequestHandler, str] = OrderedDict()
        self.refused = 0
        self.evicted = 0
        self._last_warning = 0.0

    @property
    def open(self) -> int:
        return len(self._all)

    def stats(self) -> dict[str, Any]:
        return {"open_sockets": self.open, "refused_connections": self.refused,
                "evicted_idle_connections": self.evicted}

    def admit(self, handler: RequestHandler, address: str) -> bool:
        mine = self._by_address.get(address)
        if mine is not None and len(mine) >= self.max_per_address and not self._evict_idle(mine):
            return self._refuse(address, "per-address")
        if len(self._all) >= self.max_total and not self._evict_idle(self._all):
            return self._refuse(address, "total")
        self._all[handler] = address
        self._by_address.setdefault(address, OrderedDict())[handler] = None
        return True

    def release(self, handler: RequestHandler) -> None:
        address = self._all.pop(handler, None)
        if address is None:
            return
        mine = self._by_address.get(address)
        if mine is not None:
            mine.pop(handler, None)
            if not mine:
                del self._by_address[address]

    def _evict_idle(self, candidates) -> bool:
        for handler in candidates:
            if getattr(handler, "_request_count", 1) == 0:  # connected, never sent a request
                transport = handler.transport
                self.release(handler)
                self.evicted += 1
                if transport is not None:
                    transport.abort()
                return True
        return False

    def _refuse(self, address: str, which: str) -> bool:
        self.refused += 1
        now = time.monotonic()
        if now - self._last_warning >= 10.0:  # a flood must not become a flood of log lines
            self._last_warning = now
            log.warning("refusing connections over the %s limit (latest from %s; %d refused so far)",
                        which, address, self.refused)
        return False


class ShopStreams:
    """Streams open per shop on this server, at most `limit` each.

    A slot is taken when a stream is admitted, before its WebSocket handshake, and given back
    when it ends: a burst of handshakes cannot overshoot the limit between check and subscribe.
    A refused stream is still upgraded and then closed with its own close code (app.py), so a
    proxy in front sees a good answer, not a failed gateway."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self._open: dict[str, int] = {}
        self.refused = 0

    def take(self, shop: str) -> bool:
        count = self._open.get(shop, 0)
        if count >= self.limit:
            self.refused += 1
            return False
        self._open[shop] = count + 1
        return True

    def give(self, shop: str) -> None:
        count = self._open.get(shop, 0) - 1
        if count > 0:
            self._open[shop] = count
        else:
            self._open.pop(shop, None)


# The answer to a connection over a limit. A reset instead would be an "error" to a reverse
# proxy, which then marks the whole gateway down for every shop (nginx: max_fails); a 503 is an
# answer it passes on and does not hold against the gateway.
REFUSAL_BODY = json.dumps({"error": "too_many_connections",
                           "message": "the server has as many connections as it allows; try again in a moment"}).encode()
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
           b"Connection: close\r\nContent-Length: " + str(len(REFUSAL_BODY)).encode() + b"\r\n\r\n" + REFUSAL_BODY)
REFUSAL_LINGER_S = 2.0  # a refused connection is reset at the latest this long after its answer
MAX_LINGERING = 64  # refused connections waiting for their peer to close; past this, reset at once


class DecisionRate:
    """Decisions (accept/reject) per shop and second on this server: a token bucket per shop of
    `per_second`, holding up to `burst_s` seconds' worth. A PC's outbox retries a 429 later."""

    def __init__(self, per_second: float, *, burst_s: float = 2.0, clock=time.monotonic):
        self.per_second, self._clock = max(per_second, 0.001), clock
        self.capacity = max(1.0, per_second * burst_s)
        self._buckets: dict[str, tuple[float, float]] = {}  # shop -> (tokens, when)
        self.refused = 0

    def wait(self, shop: str) -> float:
        """0 when the shop may decide now (and it is counted); else the seconds to wait."""
        now = self._clock()
        tokens, then = self._buckets.get(shop, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.per_second)
        if tokens < 1.0:
            self._buckets[shop] = (tokens, now)
            self.refused += 1
            return (1.0 - tokens) / self.per_second
        if len(self._buckets) >= 100000:  # bounded: a full bucket is the same as none
            self._buckets = {s: b for s, b in self._buckets.items() if b[0] < self.capacity}
        self._buckets[shop] = (tokens - 1.0, now)
        return 0.0


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, admitted by the guard before it sees a byte."""

    lingering = 0  # refused connections of this process still open (bounded by MAX_LINGERING)

    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._admitted = False
        self._refused: asyncio.BaseTransport | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._guard.admit(self, address):
            self._refuse(transport)
            return
        self._admitted = True
        super().connection_made(transport)

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503 and close. Closing with the request still unread would make the kernel
        send a reset, which may reach the peer before the answer: so stop writing, read and
        drop what comes until the peer closes, and reset only after REFUSAL_LINGER_S."""
        if GuardedHandler.lingering >= MAX_LINGERING or not transport.can_write_eof():  # type: ignore[attr-defined]
            transport.write(REFUSAL)  # type: ignore[attr-defined]
            transport.close()
            return
        GuardedHandler.lingering += 1
        self._refused = transport
        transport.write(REFUSAL)  # type: ignore[attr-defined]
        transport.write_eof()  # type: ignore[attr-defined]
        self._linger = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.abort)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._refused is None:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._refused is not None:
            self._refused.close()
            return False
        return super().eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused is not None:
            GuardedHandler.lingering -= 1
            if self._linger is not None:
                self._linger.cancel()
            self._refused = None
            return
        if not self._admitted:
            return
        self._guard.release(self)
        super().connection_lost(exc)


class GuardedSockSite(web.SockSite):
    """A SockSite whose connections go through a ConnectionGuard."""

    def __init__(self, runner: web.BaseRunner, sock, guard: ConnectionGuard, *,
                 handshake_timeout: float, **kwargs: Any):
        super().__init__(runner, sock, **kwargs)
        self._guard = guard
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        # Mirrors SockSite.start, with our protocol factory (aiohttp's Server builds the handler
        # with the same arguments).
        self._runner._reg_site(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        guard = self._guard

        def factory() -> GuardedHandler:
            return GuardedHandler(guard, server, loop=loop, **server._kwargs)

        extra = {"ssl_handshake_timeout": self._handshake_timeout} if self._ssl_context else {}
        self._server = await loop.create_server(
            factory, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog, **extra
        )
