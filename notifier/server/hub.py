"""Fan-out of new events to the connected clients of each shop, never waiting for any of them.

Every client has its own bounded queue drained by its own task. Publishing only puts a frame (the
same, already encoded string for everyone) on each queue; a client whose queue is full is too
slow and is dropped, so it cannot delay the others. It will reconnect and resume from its cursor.

Dropping a client means: try a polite close frame, and abort the socket after CLOSE_DEADLINE_S
whatever happened to the tasks serving it — a client that never reads would otherwise keep its
socket (and the kernel's send buffer) for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections import defaultdict

from notifier.core import protocol

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 4008  # application close code: "you fell behind; reconnect with after=<seq>"
CLOSE_TOKEN_REVOKED = protocol.CLOSE_TOKEN_REVOKED  # the stream's token was rotated
CLOSE_SHOP_GONE = protocol.CLOSE_SHOP_GONE  # the shop was removed (or removed and created again)
CLOSE_TOO_MANY_STREAMS = protocol.CLOSE_TOO_MANY_STREAMS  # the shop's streams are at their limit here
CLOSE_DEADLINE_S = 2.0  # a dropped client's socket is aborted at the latest this long after


class Subscriber:
    def __init__(self, channel: str, limit: int, closing: set | None = None):
        self.channel = channel
        self._closing = closing if closing is not None else set()  # the hub's sockets being closed
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(maxsize=limit)
        self.cursor = 0  # the last seq sent to this client (set after its replay)
        self.close_code: int | None = None  # set when the server ends this client's stream
        self.close_message = b""
        self.writer: asyncio.Task | None = None  # the task sending to this client
        self.transport: asyncio.Transport | None = None  # its socket, aborted at the close deadline
        self.token_hash = ""  # the credentials it was admitted with, checked when they change
        self.identity = ""

    @property
    def kicked(self) -> bool:
        return self.close_code is not None

    def end(self, code: int, message: bytes) -> None:
        """Stop sending to this client and close its connection with `code`."""
        if self.close_code is not None:
            return
        self.close_code, self.close_message = code, message
        if self.writer and not self.writer.done():
            self.writer.cancel()
        transport = self.transport
        if transport is not None:
            self._closing.add(transport)
            asyncio.get_running_loop().call_later(CLOSE_DEADLINE_S, _abort_if_open, transport, self._closing)


def _abort_if_open(transport: asyncio.Transport, closing: set) -> None:
    """Reset the connection now, with whatever is still queued for it.

    Also when it is already closing: a transport closed politely but still holding data the
    client never read stays open until that is sent, which may be never. And a plain close()
    of the socket would not do either: the kernel keeps an unsent send queue in FIN-WAIT for
    minutes, probing a zero window. SO_LINGER 0 makes the close a reset that drops the queue.
    Aborting a transport that is really closed does nothing."""
    if transport.is_closing() and transport.get_write_buffer_size() == 0:
        sock = None  # closed cleanly, or about to: nothing left to throw away
    else:
        sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    closing.discard(transport)


class Hub:
    def __init__(self, queue_limit: int):
        self.queue_limit = queue_limit
        self._channels: dict[str, set[Subscriber]] = defaultdict(set)
        self.kicked = 0  # clients dropped for being too slow, for /healthz and tests
        self._closing: set[asyncio.Transport] = set()  # ended streams whose socket may be open
        self._left_at: dict[str, float] = {}  # channel -> when its last client left (no_pc_alerts)

    def subscribe(self, channel: str) -> Subscriber:
        sub = Subscriber(channel, self.queue_limit, self._closing)
        self._channels[channel].add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._channels.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._channels[sub.channel]
                self._left_at[sub.channel] = time.time()

    def close_all(self) -> None:
        """Server shutdown: tell every client we are going away (they reconnect and resume)."""
        for subs in self._channels.values():
            for sub in subs:
                sub.end(CLOSE_GOING_AWAY, b"server shutting down")

    def channels(self) -> list[str]:
        return list(self._channels)

    def subscribers(self, channel: str) -> list[Subscriber]:
        return list(self._channels.get(channel, ()))

    def left_at(self, channel: str) -> float | None:
        """When the last client of `channel` left (unix time); None if none ever left here."""
        return self._left_at.get(channel)

    def has_subscribers(self, channel: str) -> bool:
        return bool(self._channels.get(channel))

    @property
    def connections(self) -> int:
        return sum(len(subs) for subs in self._channels.values())

    @property
    def closing(self) -> int:
        """Ended streams whose socket is not closed yet (each at most CLOSE_DEADLINE_S)."""
        return sum(1 for t in self._closing if not t.is_closing() or t.get_write_buffer_size())

    def publish(self, channel: str, seq: int, frame: str, identity: str | None = None) -> None:
        """Queue `frame` for every client of `channel`. Must run on the server's event loop.

        With `identity`, a client admitted to another incarnation of the shop (removed and
        created again since) gets nothing and is closed: its cursor means nothing here."""
        for sub in list(self._channels.get(channel, ())):
            if sub.kicked:
                continue
            if identity is not None and sub.identity and sub.identity != identity:
                sub.end(CLOSE_SHOP_GONE, b"shop removed")
                continue
            try:
                sub.queue.put_nowait((seq, frame))
            except asyncio.QueueFull:
                self.kicked += 1
                log.info("dropping a client of %s: %d frames unread", channel, sub.queue.qsize())
                sub.end(CLOSE_TOO_SLOW, b"too slow; reconnect with after=")
