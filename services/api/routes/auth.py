"""GET /connect (Basic credentials -> token) and GET /disconnect."""

from __future__ import annotations

import binascii
from base64 import b64decode

from aiohttp import web

from shared.errors import AccountDisabled, Unauthorized

from ..auth import current_user, request_token
from ..client_address import client_address
from ..keys import ACCOUNTS, SETTINGS
from ..views import json_response

routes = web.RouteTableDef()

_MAX_CREDENTIALS = 8192


def basic_credentials(header: str | None) -> tuple[str, str]:
    """(email, password) from `Authorization: Basic ...`, or Unauthorized."""
    if not header or len(header) > _MAX_CREDENTIALS:
        raise Unauthorized()
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized()
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Unauthorized() from None
    email, colon, password = decoded.partition(":")
    if not colon or not email:
        raise Unauthorized()
    return email, password


@routes.get("/connect", allow_head=False)  # HEAD must not mint tokens
async def connect(request: web.Request) -> web.Response:
    email, password = basic_credentials(request.headers.get("Authorization"))
    address = client_address(request, request.app[SETTINGS].server.trusted_proxies)
    try:
        session = await request.app[ACCOUNTS].log_in(email, password, address)
    except AccountDisabled:
        raise Unauthorized() from None  # v1's contract has one answer for every failed login
    return json_response({"token": session.token})


@routes.get("/disconnect", allow_head=False)  # HEAD must not log anyone out
async def disconnect(request: web.Request) -> web.Response:
    user = await current_user(request)
    await request.app[ACCOUNTS].log_out(request_token(request), user.id)
    return web.Response(status=204)
