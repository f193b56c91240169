"""Where a callback may connect: public addresses only, unless the operator allows more.

A callback URL is set by whoever runs the admin commands, but its host resolves at delivery
time, and a signed POST from inside the server's network is worth something to an attacker:
`http://127.0.0.1:6379/` (Redis), `[::1]`, `0.0.0.0`, `2130706433` (a decimal 127.0.0.1), a name
that resolves to 10.x, or one whose DNS answer changes after the URL was set. So the check is
made on the addresses the connection really uses: the resolver hands aiohttp only allowed ones,
and an IP literal (which aiohttp does not resolve) is checked before connecting. Loopback,
private, link-local, multicast, reserved and unspecified addresses are refused unless a network
of `--allow-callbacks-to` holds them. Redirects are never followed (callbacks.py).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(specs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`--allow-callbacks-to` values as networks; ValueError names a bad one."""
    networks = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{spec!r} is not an address or a network (such as 10.0.0.0/8)") from None
    return tuple(networks)


class Destinations:
    """Which addresses a callback may connect to."""

    def __init__(self, allowed: Iterable[str] = ()):
        self.allowed = parse_networks(allowed)

    def refusal(self, host: str) -> str | None:
        """Why `host` (an IP address) may not be called, or None when it may. A name that is not
        an address is left to the resolver."""
        try:
            address: Address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return None
        for kind, test in (("a loopback", address.is_loopback), ("an unspecified", address.is_unspecified),
                           ("a link-local", address.is_link_local), ("a multicast", address.is_multicast),
                           ("a private", address.is_private), ("a reserved", address.is_reserved)):
            if test:
                return f"{address} is {kind} address (allow it with --allow-callbacks-to)"
        if not address.is_global:
            return f"{address} is not a public address (allow it with --allow-callbacks-to)"
        return None


class CheckedResolver(AbstractResolver):
    """aiohttp's threaded resolver (getaddrinfo off the event loop), keeping only the addresses
    Destinations allows; none left is a connection error with the reason."""

    def __init__(self, destinations: Destinations):
        self.destinations = destinations
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        found = await self._inner.resolve(host, port, family)
        kept = [entry for entry in found if self.destinations.refusal(entry["host"]) is None]
        if not kept:
            reasons = sorted({self.destinations.refusal(entry["host"]) or "" for entry in found})
            # errno and strerror: aiohttp's connection error shows only the strerror.
            raise OSError(errno.EHOSTUNREACH, f"{host} resolves to no address a callback may reach: "
                                              f"{'; '.join(reasons)}")
        return kept

    async def close(self) -> None:
        await self._inner.close()
