"""What every WebSocket source shares: one connection on websocket-client, read by our own pump.

Why not `run_forever(reconnect=…)`: that hides disconnects and is not thread-safe while
reconnecting (websocket-client #970, #974, #1045). The reconnect loop is `ReconnectingSource`'s;
here a half-open connection is caught by our pings, frames over the size limit are skipped
without holding them in memory, and `stop`/`reconnect_now` wake the pump through a socket pair.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time
from abc import abstractmethod
from urllib.parse import urlsplit

import websocket
from websocket._abnf import ABNF, frame_buffer

from notifier.core.connection import ConnState
from notifier.core.sources.reconnecting import ReconnectingSource, classify_network_error

log = logging.getLogger(__name__)



class FrameTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(f"frame of {size} bytes")
        self.size = size


class ClosedByServer(Exception):
    """The server closed the stream with a close code that says why (see close_code_state)."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"closed by the server: {code} {reason}".strip())
        self.code, self.reason = code, reason


class FrameStalled(Exception):
    """A frame that trickles in slower than the deadline allows (a byte a second)."""


class _BoundedFrameBuffer(frame_buffer):
    """Skips frames over the size limit without holding them in memory, and gives up on a frame
    that does not arrive in time."""

    def __init__(self, recv_fn, limit: int, frame_deadline_s: float):
        super().__init__(self._recv_with_deadline, skip_utf8_validation=True)
        self._raw_recv = recv_fn
        self._limit = limit
        self._frame_deadline_s = frame_deadline_s
        self._deadline: float | None = None

    def _recv_with_deadline(self, size: int) -> bytes:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise FrameStalled()
        return self._raw_recv(size)

    def recv_frame(self) -> ABNF:
        with self.lock:
            if self.needs_header():
                self._deadline = time.monotonic() + self._frame_deadline_s
                self.recv_header()
            if self.needs_length():
                self.recv_length()
            length = self.length or 0
            if length > self._limit:
                remaining = length + (4 if self.has_mask() else 0)
                while remaining:
                    chunk = min(remaining, 65536)
                    self.recv_strict(chunk)
                    remaining -= chunk
                self.clear()
                self._deadline = None
                raise FrameTooLarge(length)
        frame = super().recv_frame()
        self._deadline = None
        return frame


def _readable_now(sock) -> bool:
    if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(readable)


class WebSocketSource(ReconnectingSource):
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

    def _interrupt(self) -> None:
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

    def _sslopt(self) -> dict:
        if not self.settings["connection.verify_tls"]:
            log.warning("TLS certificate verification is OFF for %s (set by the user)", self.server_label())
            return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        opts: dict = {"cert_reqs": ssl.CERT_REQUIRED, "check_hostname": True}
        if self.settings["connection.ca_file"]:
            opts["ca_certs"] = self.settings["connection.ca_file"]
        return opts

    def _proxy_args(self) -> dict:
        proxy = self.settings["connection.proxy"]
        if not proxy:
            return {}
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        args = {"http_proxy_host": parts.hostname, "http_proxy_port": parts.port or 8080, "proxy_type": "http"}
        if parts.username:
            args["http_proxy_auth"] = (parts.username, parts.password or "")
        return args

    def _open(self) -> websocket.WebSocket:
        url = self.build_url()
        self.attempted_urls = (self.attempted_urls + [url])[-100:]
        timeout = float(self.settings["connection.connect_timeout"])
        ws = websocket.WebSocket(sslopt=self._sslopt(), skip_utf8_validation=True, enable_multithread=True)
        ws.frame_buffer = _BoundedFrameBuffer(
            ws._recv,
            limit=int(self.settings["connection.max_frame_kib"]) * 1024,
            frame_deadline_s=float(self.settings["connection.ping_interval"] + self.settings["connection.ping_timeout"]),
        )
        ws.connect(url, header=self.headers(), timeout=timeout, suppress_origin=True, **self._proxy_args())
        # Reads inside one frame must not wait longer than a ping answer may.
        ws.settimeout(float(self.settings["connection.ping_timeout"]))
        return ws

    def close_code_state(self, code: int) -> ConnState | None:
        """What a close code of this protocol means for the person watching; None: just closed.
        Application codes (4000-4999) mean what each protocol says, so only sources that know
        their server's codes map them."""
        return None

    def _classify(self, exc: BaseException) -> tuple[ConnState, str]:
        if isinstance(exc, ClosedByServer):
            return self.close_code_state(exc.code) or ConnState.UNREACHABLE, str(exc)
        if isinstance(exc, websocket.WebSocketBadStatusException):
            code = getattr(exc, "status_code", 0)
            if code in (401, 403):
                return ConnState.UNAUTHORIZED, f"server answered {code}"
            return ConnState.UNREACHABLE, f"server answered {code}"
        if isinstance(exc, websocket.WebSocketProtocolException) and "certificate" in str(exc).lower():
            return ConnState.TLS_FAILURE, str(exc)[:200]
        if isinstance(exc, websocket.WebSocketTimeoutException):
            return ConnState.UNREACHABLE, "connection timed out"
        # Before the ValueError test: ssl.SSLCertVerificationError is a ValueError too.
        if isinstance(exc, OSError):
            return classify_network_error(exc)
        if isinstance(exc, ValueError | websocket.WebSocketAddressException):
            return ConnState.MISCONFIGURED, str(exc)[:200]
        return classify_network_error(exc)

    def _close(self, ws: websocket.WebSocket, clean: bool) -> None:
        try:
            ws.close(timeout=1 if clean else 0)
        except Exception:  # noqa: BLE001 - it is going away either way
            pass
        self.on_close()

    def _pump(self, ws: websocket.WebSocket) -> str:
        """Read frames until the connection ends; returns why it ended."""
        self.on_open()
        interval = float(self.settings["connection.ping_interval"])
        answer_within = float(self.settings["connection.ping_timeout"])
        sock = ws.sock
        next_ping = time.monotonic() + interval
        ping_sent_at: float | None = None
        while not self.stopping:
            if self._reconnect_requested.is_set():
                return "reconnect requested"
            now = time.monotonic()
            if (ping_sent_at is not None and now - ping_sent_at >= answer_within
                    and not _readable_now(sock)):
                # Only when nothing is waiting to be read: a slow message handler may have kept
                # us from reading an answer that did arrive in time.
                return f"no answer to ping within {answer_within:g} s"
            if now >= next_ping:
                try:
                    ws.ping()
                except Exception as exc:  # noqa: BLE001
                    return f"ping failed: {type(exc).__name__}"
                if ping_sent_at is None:
                    ping_sent_at = now
                next_ping = now + interval
            deadline = min(next_ping, ping_sent_at + answer_within if ping_sent_at else next_ping)
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not pending:
                readable, _, _ = select.select([sock, self._wake_r], [], [], max(0.0, deadline - now))
                if self._wake_r in readable:
                    self._drain_wake()
                if sock not in readable:
                    continue
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except FrameTooLarge as exc:
                log.warning("dropped a message of %d bytes from %s (over the size limit)", exc.size, self.server_label())
                ping_sent_at = None
                continue
            except FrameStalled:
                return "a message arrived too slowly"
            except websocket.WebSocketConnectionClosedException:
                return "closed by the server"
            except (websocket.WebSocketTimeoutException, TimeoutError):
                return "the server stopped answering in the middle of a message"
            except (OSError, websocket.WebSocketException) as exc:
                return f"{type(exc).__name__}: {str(exc)[:200]}"
            ping_sent_at = None  # anything heard proves the connection is alive
            if opcode == ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
                if self.close_code_state(code) is not None:
                    raise ClosedByServer(code, bytes(data[2:]).decode("utf-8", "replace")[:120])
                return "closed by the server"
            if opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
                self._handle_frame(data)
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
