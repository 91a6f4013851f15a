"""Session tokens in Redis, in the original's layout: `auth_<token>` -> user id.

Keeping the raw token in the key (rather than a hash of it) is what lets tokens
issued by the original service stay valid through a migration, and lets the
original's tools read `auth_*` keys. Tokens are UUID v4: 122 random bits from
the OS's CSPRNG. They are never logged.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from .redis_get import PipelinedGet

KEY_PREFIX = "auth_"
_MAX_TOKEN_LENGTH = 128


class TokenStore:
    def __init__(self, redis: Redis, ttl_seconds: int, cached: PipelinedGet | None = None) -> None:
        """`cached`: the process's tracked, caching client for the hot look-up
        (shared.redis_get). Without it nothing is remembered, by this process
        or any other with the same settings."""
        self._redis = redis
        self._ttl = ttl_seconds
        self._cached = cached

    async def issue(self, user_id: str) -> str:
        token = str(uuid.uuid4())
        await self._redis.set(KEY_PREFIX + token, user_id, ex=self._ttl)
        return token

    async def user_id(self, token: str | None) -> str | None:
        """The user id behind `token`, or None when it is missing, unknown or expired."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        get = self._cached.get if self._cached is not None else self._redis.get
        value = await get(KEY_PREFIX + token)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def revoke(self, token: str | None) -> bool:
        """Delete the token; False when there was no such token. The one way
        tokens end before their time (logout; password changes use it too):
        once it returns, no API process on this host accepts the token for a
        request that starts afterwards, whatever it remembered (the barrier in
        PipelinedGet.delete)."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return False
        if self._cached is not None:
            return await self._cached.delete(KEY_PREFIX + token) > 0
        return bool(await self._redis.delete(KEY_PREFIX + token))
