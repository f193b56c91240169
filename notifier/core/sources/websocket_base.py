"""What every WebSocket source shares: one connection on our own transport
(`websocket_transport`, see there why not websocket-client), read by the pump here.

The reconnect loop is `ReconnectLoop`'s; here a half-open connection is caught by our pings,
frames over the size limit are skipped without holding them in memory (by the transport), and
`stop`/`reconnect_now` wake the pump through a socket pair.

A message may come in fragments (a first frame, then continuation frames). The pump reads one
frame at a time and joins the fragments itself (`MessageAssembler`), bounded, because a joiner
without a bound (websocket-client's, which the sources used before) lets a server send 100 MB in
64 KiB pieces (seen: 230 MB held, 78 CPU-s of copying, no orders for 65 s), or pieces forever.
The whole message is bounded by the same limit as a frame (`connection.max_frame_kib`; a message
over it is dropped and its remaining fragments skipped unkept) and must be complete within the
frame deadline (ping interval + ping timeout) of its first fragment, else the connection is
given up on and made again; pings go on meanwhile.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from abc import abstractmethod

from notifier.core.connection import ConnState
from notifier.core.reconnect import classify_network_error
from notifier.core.sources.base import Source
from notifier.core.sources.websocket_proxy import parse_proxy
from notifier.core.sources.websocket_transport import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    AddressError,
    ConnectionClosed,
    FrameStalled,
    FrameTooLarge,
    HandshakeRefused,
    ProtocolError,
    TlsOptions,
    WebSocketConnection,
)
from notifier.core.sources.websocket_transport import connect as open_websocket

log = logging.getLogger(__name__)



class ClosedByServer(Exception):
    """The server closed the stream with a close code that says why (see close_code_state)."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"closed by the server: {code} {reason}".strip())
        self.code, self.reason = code, reason


class MessageTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(f"message of more than {size} bytes")
        self.size = size


class MessageAssembler:
    """Joins a message's fragments, bounded in size (`limit` bytes for the whole message) and
    in time (`deadline_s` from its first fragment to its last)."""

    def __init__(self, limit: int, deadline_s: float, clock=time.monotonic):
        self.limit = limit
        self.deadline_s = deadline_s
        self._clock = clock
        self._opcode: int | None = None  # of the message being joined (TEXT or BINARY)
        self._parts = bytearray()
        self._dropping = False  # over the limit: the rest of its fragments are skipped
        self.deadline: float | None = None  # when the message being joined must be complete

    def overdue(self) -> bool:
        return self.deadline is not None and self._clock() > self.deadline

    def add(self, opcode: int, fin: bool, data: bytes) -> tuple[int, bytes] | None:
        """A data frame; (opcode, message) once the message is complete. MessageTooLarge when
        it went over the limit (once per message); ProtocolError for fragments
        that belong to no message."""
        if opcode == OP_CONT:
            if self._opcode is None:
                raise ProtocolError("a continuation frame without a message")
        else:
            if self._opcode is not None:
                raise ProtocolError("a new message inside a fragmented one")
            if fin:
                return opcode, data  # the usual case: one frame, one message
            self._opcode, self._parts, self._dropping = opcode, bytearray(), False
            self.deadline = self._clock() + self.deadline_s
        size = len(self._parts) + len(data)
        if not self._dropping and size > self.limit:
            self._dropping = True
            self._parts = bytearray()
            if fin:
                self._reset()
            raise MessageTooLarge(self.limit)
        if not self._dropping:
            self._parts += data
        if not fin:
            return None
        message, opcode = bytes(self._parts), self._opcode
        dropped = self._dropping
        self._reset()
        return None if dropped else (opcode, message)

    def too_large_frame(self, opcode: int, fin: bool) -> None:
        """A frame over the limit was skipped: a message it belonged to is dropped whole."""
        if opcode == OP_CONT and self._opcode is not None:
            if fin:
                self._reset()
            else:
                self._dropping, self._parts = True, bytearray()
        elif opcode in (OP_TEXT, OP_BINARY) and not fin:
            self._opcode, self._parts, self._dropping = opcode, bytearray(), True
            self.deadline = self._clock() + self.deadline_s

    def _reset(self) -> None:
        self._opcode, self._parts, self._dropping, self.deadline = None, bytearray(), False, None


def _readable_now(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(readable)


class WebSocketSource(Source):
    """A source on one WebSocket. Subclasses give the URL and headers and decode text frames."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._skip_counts: dict[str, int] = {}
        self.attempted_urls: list[str] = []  # for tests: every URL tried, newest last (bounded)

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def build_url(self) -> str:
        """The URL for the next attempt (sky-take-out makes a fresh sid every time)."""

    def headers(self) -> list[str]:
        return []

    def on_open(self) -> None:
        """Called on the source thread right after a connection is established."""

    def on_close(self) -> None:
        """Called on the source thread after a connection ended."""

    @abstractmethod
    def handle_text(self, text: str) -> None:
        """Decode one text message and deliver what it holds. May raise; it is logged."""

    def skipped(self, reason: str, sample: str = "") -> None:
        """Note a message that was not an order: logged once per reason at debug level."""
        count = self._skip_counts.get(reason, 0) + 1
        self._skip_counts[reason] = count
        if count == 1:
            log.debug("skipped a message (%s): %.200r", reason, sample)

    # -- the loop ------------------------------------------------------------------------

    def interrupt(self) -> None:
        try:
            self._wake_w.send(b"x")  # the pump selects on the socket and on this
        except OSError:
            pass

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    def _tls_options(self, url: str) -> TlsOptions:
        verify = bool(self.settings["connection.verify_tls"])
        if not verify and url.lstrip().lower().startswith("wss:"):
            log.warning("TLS certificate verification is OFF for %s (set by the user)", self.server_label())
        return TlsOptions(verify=verify, ca_file=self.settings["connection.ca_file"])

    def connect(self) -> WebSocketConnection:
        url = self.build_url()
        self.attempted_urls = (self.attempted_urls + [url])[-100:]
        conn = open_websocket(
            url, headers=self.headers(), timeout=float(self.settings["connection.connect_timeout"]),
            tls=self._tls_options(url), proxy=parse_proxy(self.settings["connection.proxy"], default_port=8080),
            max_frame=int(self.settings["connection.max_frame_kib"]) * 1024,
            frame_deadline_s=float(self.settings["connection.ping_interval"] + self.settings["connection.ping_timeout"]),
        )
        # Reads inside one frame must not wait longer than a ping answer may.
        conn.settimeout(float(self.settings["connection.ping_timeout"]))
        return conn

    def close_code_state(self, code: int) -> ConnState | None:
        """What a close code of this protocol means for the person watching; None: just closed.
        Application codes (4000-4999) mean what each protocol says, so only sources that know
        their server's codes map them."""
        return None

    def classify(self, exc: BaseException) -> tuple[ConnState, str]:
        if isinstance(exc, ClosedByServer):
            return self.close_code_state(exc.code) or ConnState.UNREACHABLE, str(exc)
        if isinstance(exc, HandshakeRefused):
            code = exc.status_code
            if code in (401, 403):
                return ConnState.UNAUTHORIZED, f"server answered {code}"
            return ConnState.UNREACHABLE, f"server answered {code}"
        # Before the ValueError test: ssl.SSLCertVerificationError is a ValueError too.
        if isinstance(exc, OSError):
            return classify_network_error(exc)
        if isinstance(exc, ValueError | AddressError):
            return ConnState.MISCONFIGURED, str(exc)[:200]
        if isinstance(exc, ProtocolError):
            return ConnState.UNREACHABLE, f"ProtocolError: {str(exc)[:200]}"
        return classify_network_error(exc)

    def disconnect(self, conn: WebSocketConnection, clean: bool) -> None:
        conn.close(timeout=1 if clean else 0)
        self.on_close()

    def _message_assembler(self) -> MessageAssembler:
        return MessageAssembler(int(self.settings["connection.max_frame_kib"]) * 1024,
                                self.message_deadline_s())

    def message_deadline_s(self) -> float:
        """How long one message (all its fragments) may take to arrive."""
        return float(self.settings["connection.ping_interval"] + self.settings["connection.ping_timeout"])

    def pump(self, conn: WebSocketConnection) -> str:
        """Read frames until the connection ends; returns why it ended."""
        self.on_open()
        interval = float(self.settings["connection.ping_interval"])
        answer_within = float(self.settings["connection.ping_timeout"])
        sock = conn.sock
        message = self._message_assembler()
        next_ping = time.monotonic() + interval
        ping_sent_at: float | None = None
        while not self.stopping:
            if self.loop.reconnect_requested:
                return "reconnect requested"
            if message.overdue():
                return "a message arrived too slowly"
            now = time.monotonic()
            if (ping_sent_at is not None and now - ping_sent_at >= answer_within
                    and not conn.pending() and not _readable_now(sock)):
                # Only when nothing is waiting to be read: a slow message handler may have kept
                # us from reading an answer that did arrive in time.
                return f"no answer to ping within {answer_within:g} s"
            if now >= next_ping:
                try:
                    conn.ping()
                except Exception as exc:  # noqa: BLE001
                    return f"ping failed: {type(exc).__name__}"
                if ping_sent_at is None:
                    ping_sent_at = now
                next_ping = now + interval
            deadline = min(next_ping, ping_sent_at + answer_within if ping_sent_at else next_ping,
                           message.deadline or next_ping)
            if not conn.pending():
                readable, _, _ = select.select([sock, self._wake_r], [], [], max(0.0, deadline - now))
                if self._wake_r in readable:
                    self._drain_wake()
                if sock not in readable:
                    continue
            try:
                opcode, fin, data = conn.recv_frame()
            except FrameTooLarge as exc:
                log.warning("dropped a message of %d bytes from %s (over the size limit)", exc.size, self.server_label())
                message.too_large_frame(exc.opcode, exc.fin)
                ping_sent_at = None
                continue
            except FrameStalled:
                return "a message arrived too slowly"
            except ConnectionClosed:
                return "closed by the server"
            except TimeoutError:
                return "the server stopped answering in the middle of a message"
            except (OSError, ProtocolError) as exc:
                return f"{type(exc).__name__}: {str(exc)[:200]}"
            ping_sent_at = None  # anything heard proves the connection is alive
            if opcode == OP_PING:
                try:
                    conn.pong(data)
                except Exception as exc:  # noqa: BLE001
                    return f"pong failed: {type(exc).__name__}"
                continue
            if opcode == OP_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
                if self.close_code_state(code) is not None:
                    raise ClosedByServer(code, bytes(data[2:]).decode("utf-8", "replace")[:120])
                return "closed by the server"
            if opcode not in (OP_TEXT, OP_BINARY, OP_CONT):
                continue  # a pong
            try:
                whole = message.add(opcode, fin, data)
            except MessageTooLarge:
                log.warning("dropped a message of more than %d bytes from %s (over the size limit)",
                            message.limit, self.server_label())
                continue
            except ProtocolError as exc:
                return f"ProtocolError: {str(exc)[:200]}"
            if whole is not None:
                self._handle_frame(whole[1])
        return "stopped"

    def _handle_frame(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self.skipped("invalid UTF-8", repr(data[:80]))
                return
        else:
            text = data
        try:
            self.handle_text(text)
        except Exception:  # noqa: BLE001 - one bad message must never end the connection
            log.exception("could not handle a message from %s", self.server_label())
