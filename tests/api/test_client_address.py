"""services.api.client_address: the socket's peer, or X-Forwarded-For read
from the right when (and only when) the peer is a trusted proxy. Real
requests over loopback: the peer is 127.0.0.1."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp import web

from services.api.client_address import client_address


def app_trusting(*networks: str) -> web.Application:
    trusted = tuple(ipaddress.ip_network(n) for n in networks)

    async def who(request: web.Request) -> web.Response:
        return web.Response(text=client_address(request, trusted))

    app = web.Application()
    app.router.add_get("/", who)
    return app


async def address_seen(aiohttp_client, trusted: tuple[str, ...], *forwarded: str) -> str:
    client = await aiohttp_client(app_trusting(*trusted))
    headers = [("X-Forwarded-For", value) for value in forwarded]
    resp = await client.get("/", headers=headers)
    return await resp.text()


@pytest.mark.parametrize("trusted, forwarded, seen", [
    # Not a trusted peer: the header is the client's word, ignored.
    ((), ("203.0.113.5",), "127.0.0.1"),
    (("10.0.0.0/8",), ("203.0.113.5",), "127.0.0.1"),
    # A trusted peer: the right-most address that is not a trusted proxy.
    (("127.0.0.1",), ("203.0.113.5",), "203.0.113.5"),
    (("127.0.0.1",), ("198.51.100.1, 203.0.113.5",), "203.0.113.5"),  # the left one was the client's own claim
    (("127.0.0.0/8", "10.0.0.0/8"), ("198.51.100.1, 203.0.113.5, 10.1.2.3",), "203.0.113.5"),
    (("127.0.0.1", "10.0.0.0/8"), ("198.51.100.1, 203.0.113.5", "10.1.2.3"), "203.0.113.5"),  # two headers
    # Ports and brackets, as some proxies write them; IPv4-mapped IPv6 as IPv4.
    (("127.0.0.1",), ("203.0.113.5:4711",), "203.0.113.5"),
    (("127.0.0.1",), ("[2001:db8::7]:443",), "2001:db8::7"),
    (("127.0.0.1",), ("2001:db8::7",), "2001:db8::7"),
    (("127.0.0.1",), ("::ffff:203.0.113.5",), "203.0.113.5"),
    # Nothing usable: the last trusted hop, never a string the client chose.
    (("127.0.0.1",), (), "127.0.0.1"),
    (("127.0.0.1",), ("not-an-address",), "127.0.0.1"),
    (("127.0.0.1", "10.0.0.0/8"), ("garbage, 10.9.9.9",), "10.9.9.9"),
    (("127.0.0.1", "10.0.0.0/8"), ("10.0.0.1, 10.9.9.9",), "10.0.0.1"),  # all trusted: the farthest
])
async def test_client_address(aiohttp_client, trusted, forwarded, seen):
    assert await address_seen(aiohttp_client, trusted, *forwarded) == seen
