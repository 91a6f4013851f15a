"""GET /connect (Basic credentials -> token) and GET /disconnect."""

from __future__ import annotations

import binascii
from base64 import b64decode

from aiohttp import web

from shared.errors import Unauthorized
from shared.logging import get_logger
from shared.storage import email_key

from ..auth import TOKEN_HEADER, current_user
from ..client_address import client_address
from ..keys import LOGINS, PASSWORDS, SETTINGS, STORAGE, TOKENS
from ..views import json_response

routes = web.RouteTableDef()
log = get_logger("api.auth")

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
    # Counted before anything costs: a refused attempt (429) never hashes.
    # Keyed as the storage matches e-mails: trimmed, lower-cased.
    attempt = await request.app[LOGINS].attempt(email_key(email), address)
    storage, passwords = request.app[STORAGE], request.app[PASSWORDS]
    user = await storage.user_by_email(email)
    # An unknown email is verified against a dummy hash: same cost as a wrong password.
    if not await passwords.verify(user.password_hash if user else None, password) or user is None:
        raise Unauthorized()  # the attempt stays counted
    await attempt.succeeded()
    if passwords.needs_rehash(user.password_hash):
        # Legacy SHA1 digests (and outdated parameters) are replaced on the first good login.
        new_hash = await passwords.hash(password)
        if await storage.set_password_hash(user.id, user.password_hash, new_hash):
            log.info("user.password_rehashed", user_id=user.id)
    token = await request.app[TOKENS].issue(user.id)
    return json_response({"token": token})


@routes.get("/disconnect", allow_head=False)  # HEAD must not log anyone out
async def disconnect(request: web.Request) -> web.Response:
    await current_user(request)
    if not await request.app[TOKENS].revoke(request.headers.get(TOKEN_HEADER)):
        raise Unauthorized()  # revoked by a concurrent request in between
    return web.Response(status=204)
