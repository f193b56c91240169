"""The one piece of HTTP a WebSocket client reads: a response's status line and headers (the
server's answer to the upgrade request, a proxy's answer to CONNECT)."""

from __future__ import annotations

from collections.abc import Callable

MAX_HEAD_BYTES = 65536  # a server that sends more than this before its blank line is not one


def read_http_head(recv: Callable[[int], bytes]) -> tuple[int, str, dict[str, str], bytes]:
    """(status, reason, headers with lower-case names, the bytes read after the head). A server
    may send its first frames in the same packet as its answer: those are the leftover bytes.
    ValueError for an answer that is not HTTP; ConnectionError when the peer hangs up first."""
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(data) > MAX_HEAD_BYTES:
            raise ValueError(f"an HTTP head of more than {MAX_HEAD_BYTES} bytes")
        chunk = recv(4096)
        if not chunk:
            raise ConnectionResetError("the server closed the connection before it answered")
        data += chunk
    head, leftover = data[:end].decode("latin-1"), data[end + 4:]
    status_line, *lines = head.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            name = name.strip().lower()
            # Repeated headers are joined as HTTP allows (Connection: a, then Connection: b).
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return int(code), reason.strip(), headers, leftover
