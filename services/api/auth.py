"""Who is calling: the token (`X-Token`, or `Authorization: Bearer`), looked
up in Redis, then the user. Both headers are accepted on every path; a token
never travels in a URL."""

from __future__ import annotations

from contextvars import ContextVar

from aiohttp import web

from shared.errors import Unauthorized
from shared.storage import User

from .keys import STORAGE, TOKENS, USERS

TOKEN_HEADER = "X-Token"
# The authenticated user's id, for the request's access line (edge.RequestLog).
# A ContextVar, not a request key: aiohttp runs each request in a task of its
# own, and reading a missing request key costs a KeyError (~1 us) on every
# anonymous request; a ContextVar's get costs 30 ns.
AUTHENTICATED: ContextVar[str | None] = ContextVar("authenticated", default=None)
_BEARER = "bearer "


def request_token(request: web.Request) -> str | None:
    """The caller's token: X-Token when sent, else a Bearer Authorization
    (v1's /connect reads Basic credentials from that header: not a token)."""
    headers = request.headers
    token = headers.get(TOKEN_HEADER)
    if token is not None:
        return token
    authorization = headers.get("Authorization")
    if authorization is not None and authorization[:7].lower() == _BEARER:
        return authorization[7:].strip() or None
    return None


async def current_user(request: web.Request) -> User:
    """The authenticated user, or Unauthorized (missing, unknown or expired
    token, or a token whose user no longer exists or is disabled)."""
    user = await optional_user(request)
    if user is None:
        raise Unauthorized()
    return user


async def optional_user(request: web.Request) -> User | None:
    """The authenticated user, or None for an anonymous (or badly authenticated) caller."""
    user_id = await request.app[TOKENS].user_id(request_token(request))
    if user_id is None:
        return None
    cache = request.app[USERS]
    user = cache.get(user_id)
    if user is None:
        user = await request.app[STORAGE].user_by_id(user_id)
        if user is not None:
            cache.put(user)
    if user is None or user.disabled:
        # A disabled user's tokens were ended when it was disabled; this one
        # escaped the sweep (written by another tool): refused all the same.
        return None
    AUTHENTICATED.set(user_id)
    return user
