"""The client side of RFC 6455 that the WebSocket sources need, and nothing more.

Why our own rather than websocket-client (also in README.md, "What it connects to"):
websocket-client imports `ssl` and `hashlib` whatever the URL, which maps OpenSSL into every
shop PC's app even on a plain ws:// connection (4.2 MB of RSS for `ssl`, 3.5 MB for `_hashlib`);
its per-frame path (a lock, three reads per frame, an object and a validation pass) cost part of
the time between a push and the notification; and its fragment joining had no bound, which the
sources had already replaced (`websocket_base.MessageAssembler`). Here `ssl` is imported only
for a wss:// URL, the handshake's SHA-1 comes from CPython's builtin `_sha1`, and a frame already
read ahead is parsed in place.

What it does: TCP with a timeout, an optional HTTP CONNECT proxy (`websocket_proxy`), TLS for
wss:// (verified by default, the shop's own CA, or not at all when the shop said so), the
upgrade handshake (a random key, the server's accept checked, up to three redirects), unmasked
frames from the server and masked ones to it. What it refuses, as a protocol error that ends the
connection: a masked frame from the server, reserved bits, an opcode RFC 6455 does not define,
a control frame over 125 bytes or in fragments, a close frame with an invalid code.
"""

from __future__ import annotations

import binascii
import errno
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.core.sources.websocket_http import read_http_head
from notifier.core.sources.websocket_proxy import Proxy, open_tunnel, proxy_for

try:
    from _sha1 import sha1  # CPython's own SHA-1: no OpenSSL mapped in for one digest
except ImportError:  # a Python built without it
    from hashlib import sha1

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = (OP_CONT, OP_TEXT, OP_BINARY)
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_REDIRECTS = 3  # as websocket-client
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Close codes a server may send (RFC 6455 7.4; 3000-4999 for libraries and applications).
VALID_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101 (`status_code`)."""

    def __init__(self, status_code: int, reason: str = ""):
        super().__init__(f"server answered {status_code} {reason}".strip())
        self.status_code = status_code


class ProtocolError(Exception):
    """The server broke RFC 6455 (a bad handshake answer, a frame no server may send)."""


class ConnectionClosed(Exception):
    """The server hung up (end of stream)."""


class AddressError(Exception):
    """The server's name could not be resolved, or the URL names no usable address."""


class FrameTooLarge(Exception):
    """A frame over the size limit, skipped without holding it."""

    def __init__(self, size: int, opcode: int = OP_TEXT, fin: bool = True):
        super().__init__(f"frame of {size} bytes")
        self.size, self.opcode, self.fin = size, opcode, fin


class FrameStalled(Exception):
    """A frame that trickles in slower than the deadline allows (a byte a second)."""


@dataclass(frozen=True)
class Target:
    """Where a ws:// or wss:// URL points."""

    host: str
    port: int
    resource: str  # path and query
    secure: bool

    @property
    def origin(self) -> tuple[bool, str, int]:
        return self.secure, self.host, self.port

    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.secure else 80) else f"{host}:{self.port}"


def parse_ws_url(url: str) -> Target:
    """ValueError (a sentence) for anything that is not a ws:// or wss:// URL with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"the address must start with ws:// or wss:// (got {parts.scheme or 'none'}://)")
    if not parts.hostname:
        raise ValueError("the address names no server")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port in the address is not a number from 1 to 65535") from None
    secure = parts.scheme == "wss"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.hostname, port or (443 if secure else 80), resource, secure)


@dataclass(frozen=True)
class TlsOptions:
    verify: bool = True
    ca_file: str = ""  # the shop's own CA instead of the system's store


def accept_key(key: str) -> str:
    """What the server must answer for `key` (RFC 6455 4.2.2)."""
    return binascii.b2a_base64(sha1(key.encode("ascii") + GUID).digest(), newline=False).decode("ascii")


def masked(mask: bytes, data: bytes) -> bytes:
    """`data` XOR the 4-byte `mask` repeated (a client's frames are masked, RFC 6455 5.3)."""
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked client frame."""
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 65536:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + masked(mask, payload)


class ReadAhead:
    """The socket read in one call per arrival rather than one per piece of a frame.

    Each read takes whatever the socket has (up to READ_AHEAD bytes) and hands it out in the
    pieces asked for; a frame that arrived whole is cut out of it without another call. What it
    holds is invisible to `select`, so the pump asks `buffered()` before it waits."""

    READ_AHEAD = 65536

    def __init__(self, recv: Callable[[int], bytes], data: bytes = b""):
        self._recv = recv
        self._data = data
        self._at = 0

    def buffered(self) -> bool:
        return self._at < len(self._data)

    def _read(self, size: int, deadline: float | None) -> bytes:
        if deadline is not None and time.monotonic() > deadline:
            raise FrameStalled()
        data = self._recv(size)
        if not data:
            raise ConnectionClosed("closed by the server")
        return data

    def take(self, size: int, deadline: float | None = None) -> bytes:
        """Exactly `size` bytes; FrameStalled once past `deadline` with bytes still missing."""
        data, at = self._data, self._at
        end = at + size
        if end <= len(data):
            self._at = end
            return data[at:end]
        parts = [data[at:]]
        have = len(data) - at
        self._data, self._at = b"", 0
        while have < size:
            chunk = self._read(max(size - have, self.READ_AHEAD), deadline)
            need = size - have
            if len(chunk) > need:
                parts.append(chunk[:need])
                self._data, self._at = chunk, need
                break
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def skip(self, size: int, deadline: float | None = None) -> None:
        """Read past `size` bytes, holding at most READ_AHEAD of them at a time."""
        left = size - (len(self._data) - self._at)
        if left <= 0:
            self._at += size
            return
        self._data, self._at = b"", 0
        while left > 0:
            chunk = self._read(self.READ_AHEAD, deadline)
            if len(chunk) > left:
                self._data, self._at = chunk, left
                return
            left -= len(chunk)


class WebSocketConnection:
    """One open connection: frames in (`recv_frame`), control frames out, `close`."""

    def __init__(self, sock: socket.socket, leftover: bytes, *, secure: bool, max_frame: int,
                 frame_deadline_s: float):
        self.sock = sock
        self.secure = secure
        self.reader = ReadAhead(sock.recv, leftover)
        self.max_frame = max_frame
        self.frame_deadline_s = frame_deadline_s
        self.closed = False

    def pending(self) -> bool:
        """Bytes already read (here or inside TLS) that `select` on the socket would not show."""
        return self.reader.buffered() or (self.secure and self.sock.pending() > 0)

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def recv_frame(self) -> tuple[int, bool, bytes]:
        """(opcode, fin, payload) of the next frame. FrameTooLarge for one over `max_frame`
        (already skipped), FrameStalled when it does not arrive within the frame deadline,
        ProtocolError for one no server may send, ConnectionClosed at end of stream."""
        deadline = time.monotonic() + self.frame_deadline_s
        take = self.reader.take
        first, second = take(2, deadline)
        if first & 0x70:
            raise ProtocolError("the server set reserved bits in a frame header")
        if second & 0x80:
            raise ProtocolError("the server sent a masked frame")
        opcode, fin, length = first & 0x0F, first >= 0x80, second & 0x7F
        if opcode in CONTROL_OPCODES:
            if length > 125 or not fin:
                raise ProtocolError("the server sent a control frame over 125 bytes or in fragments")
        elif opcode not in DATA_OPCODES:
            raise ProtocolError(f"the server sent a frame with undefined opcode {opcode}")
        if length == 126:
            length = int.from_bytes(take(2, deadline), "big")
        elif length == 127:
            length = int.from_bytes(take(8, deadline), "big")
            if length >> 63:
                raise ProtocolError("the server sent a frame length with its top bit set")
        if length > self.max_frame:
            self.reader.skip(length, deadline)
            raise FrameTooLarge(length, opcode, fin)
        payload = take(length, deadline) if length else b""
        if opcode == OP_CLOSE and payload:
            code = int.from_bytes(payload[:2], "big")
            if len(payload) == 1 or not (code in VALID_CLOSE_CODES or 3000 <= code < 5000):
                raise ProtocolError(f"the server sent an invalid close frame (code {code})")
        return opcode, fin, payload

    def send(self, opcode: int, payload: bytes = b"") -> None:
        self.sock.sendall(client_frame(opcode, payload))

    def ping(self, payload: bytes = b"") -> None:
        self.send(OP_PING, payload)

    def pong(self, payload: bytes) -> None:
        self.send(OP_PONG, payload)

    def close(self, timeout: float = 0.0) -> None:
        """Say goodbye (close code 1000) and let the socket go; with `timeout`, wait that long
        for the server's close frame first (a clean close). Never raises."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.settimeout(timeout or 0.0)
            self.sock.sendall(client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            until = time.monotonic() + timeout
            while timeout and time.monotonic() < until:
                self.sock.settimeout(max(0.001, until - time.monotonic()))
                opcode, _fin, _data = self.recv_frame()
                if opcode == OP_CLOSE:
                    break
        except Exception:  # noqa: BLE001 - it is going away either way
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _open_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first address of `host` that accepts (as websocket-client: a
    refused or unreachable address moves on to the next, any other error ends the attempt)."""
    # An ASCII name goes as bytes: given text, getaddrinfo encodes it with the "idna" codec,
    # whose import (unicodedata, stringprep) is 0.4 MB of the app's memory for good.
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    try:
        addresses = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise AddressError(f"{host}: {exc.strerror or exc}") from None
    error: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # an order is one small frame
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            if not isinstance(exc, ConnectionRefusedError) and exc.errno != errno.ENETUNREACH:
                raise
            error = exc
    raise error or AddressError(f"{host}: no address")


def _wrap_tls(sock: socket.socket, host: str, tls: TlsOptions) -> socket.socket:
    import ssl  # only here: a ws:// connection never maps OpenSSL in

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca_file:
        try:
            context.load_verify_locations(cafile=tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"the CA file {tls.ca_file} could not be read: {getattr(exc, 'strerror', None) or exc}") from None
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return context.wrap_socket(sock, server_hostname=host)


def _handshake(sock: socket.socket, target: Target, headers: Sequence[str]) -> tuple[int, dict[str, str], bytes]:
    """Send the upgrade request; (status, headers, bytes after the answer). ProtocolError for a
    101 whose accept key or upgrade headers are wrong."""
    key = binascii.b2a_base64(os.urandom(16), newline=False).decode("ascii")
    lines = [f"GET {target.resource} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Host: {target.host_header()}", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    try:
        status, reason, answer, leftover = read_http_head(sock.recv)
    except ValueError as exc:
        raise ProtocolError(f"the server's answer is not HTTP: {exc}") from None
    if status in REDIRECT_STATUSES:
        return status, answer, leftover
    if status != 101:
        raise HandshakeRefused(status, reason)
    for name, want in (("upgrade", "websocket"), ("connection", "upgrade")):
        if want not in [part.strip().lower() for part in answer.get(name, "").split(",")]:
            raise ProtocolError(f"the server's handshake answer lacks '{name.title()}: {want}'")
    if answer.get("sec-websocket-accept", "") != accept_key(key):
        raise ProtocolError("the server's handshake answer has a wrong Sec-WebSocket-Accept")
    return status, answer, leftover


def connect(url: str, *, headers: Sequence[str] = (), timeout: float, tls: TlsOptions = TlsOptions(),
            proxy: Proxy | None = None, max_frame: int = 1 << 20,
            frame_deadline_s: float = 60.0) -> WebSocketConnection:
    """Open a WebSocket to `url`. `headers` ("Name: value") go to the server the URL names and
    to a redirect on the same scheme, host and port, never elsewhere (they may hold a token).
    Raises ValueError (bad URL or CA file), AddressError, OSError (network, TLS, proxy),
    HandshakeRefused or ProtocolError."""
    target = parse_ws_url(url)
    first_origin = target.origin
    for _ in range(MAX_REDIRECTS + 1):
        sock = _open(target, timeout, tls, proxy)
        try:
            sent = list(headers) if target.origin == first_origin else []
            status, answer, leftover = _handshake(sock, target, sent)
        except BaseException:
            sock.close()
            raise
        if status == 101:
            return WebSocketConnection(sock, leftover, secure=target.secure, max_frame=max_frame,
                                       frame_deadline_s=frame_deadline_s)
        sock.close()
        location = answer.get("location", "")
        if not location:
            raise ProtocolError(f"the server redirected ({status}) without saying where")
        try:
            redirected = parse_ws_url(location)
        except ValueError as exc:
            raise ProtocolError(f"the server redirected ({status}) to an unusable address: {exc}") from None
        if target.secure and not redirected.secure:
            raise ProtocolError(f"the server redirected ({status}) from wss:// to an unencrypted ws://")
        target = redirected
    raise ProtocolError(f"the server redirected more than {MAX_REDIRECTS} times")


def _open(target: Target, timeout: float, tls: TlsOptions, configured_proxy: Proxy | None) -> socket.socket:
    proxy = proxy_for(target.host, target.secure, configured_proxy)
    sock = _open_tcp(proxy.host, proxy.port, timeout) if proxy else _open_tcp(target.host, target.port, timeout)
    try:
        if proxy:
            open_tunnel(sock, proxy, target.host, target.port)
        if target.secure:
            sock = _wrap_tls(sock, target.host, tls)
    except BaseException:
        sock.close()
        raise
    return sock
