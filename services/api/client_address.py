"""Who is calling, by network address: the socket's peer, or, when the peer is
one of `server.trusted_proxies`, what those proxies say in X-Forwarded-For.

Each proxy appends the address it received the request from, so the list is
read from the right: trusted proxies are skipped and the first address that
is not one of them is the client. Everything left of it was written by the
client and is worth nothing. Should that right-most entry be unreadable, the
last trusted hop is taken instead: the limits then fall on the proxy, never on
an address the client chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from shared.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
FORWARDED_FOR = "X-Forwarded-For"
UNKNOWN = "unknown"  # a peer without an IP address (a Unix socket)


def _parse(text: str) -> IPAddress | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`
    or `[2001:db8::1]:443`; None for anything else (`unknown`, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress, proxies: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(request: web.Request, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address as text (see the module doc)."""
    peer = _parse(request.remote or "")
    if peer is None:
        return UNKNOWN
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return str(peer)
    hop = peer
    for header in reversed(request.headers.getall(FORWARDED_FOR, [])):
        for entry in reversed(header.split(",")):
            ip = _parse(entry)
            if ip is None:
                return str(hop)
            if not _trusted(ip, trusted_proxies):
                return str(ip)
            hop = ip
    return str(hop)


def is_https(request: web.Request, trusted_proxies: tuple[IPNetwork, ...]) -> bool:
    """Whether the client reached us over HTTPS: our own TLS, or, from one of
    the trusted proxies, its `X-Forwarded-Proto` (the last, the nearest's)."""
    if request.secure:
        return True
    peer = _parse(request.remote or "")
    if peer is None or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "")
    return proto.rsplit(",", 1)[-1].strip().lower() == "https"
