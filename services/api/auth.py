"""Who is calling: the `X-Token` header, looked up in Redis, then the user."""

from __future__ import annotations

from aiohttp import web

from shared.errors import Unauthorized
from shared.storage import User

from .keys import STORAGE, TOKENS, USERS

TOKEN_HEADER = "X-Token"


async def current_user(request: web.Request) -> User:
    """The authenticated user, or Unauthorized (missing, unknown or expired
    token, or a token whose user no longer exists)."""
    user = await optional_user(request)
    if user is None:
        raise Unauthorized()
    return user


async def optional_user(request: web.Request) -> User | None:
    """The authenticated user, or None for an anonymous (or badly authenticated) caller."""
    user_id = await request.app[TOKENS].user_id(request.headers.get(TOKEN_HEADER))
    if user_id is None:
        return None
    cache = request.app[USERS]
    user = cache.get(user_id)
    if user is None:
        user = await request.app[STORAGE].user_by_id(user_id)
        if user is not None:
            cache.put(user)
    return user
