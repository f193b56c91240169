"""Which HTTP proxy a WebSocket connection goes through, and the CONNECT tunnel through it.

The rules are websocket-client 1.9's, which the app used before it had its own transport
(`websocket_transport`): the shop's `connection.proxy` setting, else `http_proxy` for ws:// and
`https_proxy` for wss:// from the environment (either case); a host named in `no_proxy` (a name,
a domain and its subdomains, an IP network, or `*`) goes direct even when a proxy is set. Since
websocket-client 1.9, localhost is not exempt unless `no_proxy` says so.

The proxy's password travels only in the CONNECT request: it is not part of `Proxy`'s repr, and
no message here names it.
"""

from __future__ import annotations

import binascii
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from notifier.core.sources.websocket_http import read_http_head

DEFAULT_PROXY_PORT = 80  # websocket-client's default for a proxy URL without a port


class ProxyRefused(OSError):
    """The proxy did not open the tunnel (a wrong password, a host it will not reach)."""

    def __init__(self, message: str, status_code: int = 0):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def parse_proxy(value: str, default_port: int = DEFAULT_PROXY_PORT) -> Proxy | None:
    """A proxy URL (`http://user:password@host:port`, or just `host:port`); None when empty.
    ValueError (without the password in it) for one that names no host or a bad port."""
    value = value.strip()
    if not value:
        return None
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"the proxy's port is not a number (proxy host {parts.hostname or '?'})") from None
    if not parts.hostname:
        raise ValueError("the proxy address names no host")
    return Proxy(parts.hostname, port, unquote(parts.username or ""), unquote(parts.password or ""))


def bypasses_proxy(host: str, no_proxy: str | None = None) -> bool:
    """True when `host` is named in `no_proxy` (default: the environment's `no_proxy`/`NO_PROXY`)."""
    if no_proxy is None:
        no_proxy = os.environ.get("no_proxy", os.environ.get("NO_PROXY", ""))
    entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
    if not entries:
        return False
    if "*" in entries or host in entries:
        return True
    networks = [entry for entry in entries if "/" in entry]
    if networks:
        import ipaddress  # only for a no_proxy that names networks

        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            for entry in networks:
                try:
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
    for entry in entries:
        domain = entry.lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def proxy_for(host: str, secure: bool, configured: Proxy | None) -> Proxy | None:
    """The proxy to reach `host` through, or None to go direct."""
    if bypasses_proxy(host):
        return None
    if configured is not None:
        return configured
    name = "https_proxy" if secure else "http_proxy"
    value = os.environ.get(name, os.environ.get(name.upper(), "")).replace(" ", "")
    return parse_proxy(value) if value else None


def open_tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    """Ask the proxy on `sock` for a tunnel to host:port (HTTP CONNECT, basic auth when the proxy
    has a user). ProxyRefused unless it answers 200."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.user:
        credentials = f"{proxy.user}:{proxy.password}" if proxy.password else proxy.user
        token = binascii.b2a_base64(credentials.encode("utf-8"), newline=False).decode("ascii")
        request += f"Proxy-Authorization: Basic {token}\r\n"
    sock.sendall((request + "\r\n").encode("utf-8"))
    try:
        status, reason, _headers, leftover = read_http_head(sock.recv)
    except ValueError as exc:
        raise ProxyRefused(f"the proxy at {proxy.label} gave no valid answer: {exc}") from None
    if status != 200:
        raise ProxyRefused(f"the proxy at {proxy.label} refused the tunnel: {status} {reason}".strip(), status)
    if leftover:
        raise ProxyRefused(f"the proxy at {proxy.label} sent data before the tunnel was used")
