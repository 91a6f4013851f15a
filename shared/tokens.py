"""Session tokens in Redis, in the original's layout: `auth_<token>` -> user id.

Keeping the raw token in the key (rather than a hash of it) is what lets tokens
issued by the original service stay valid through a migration, and lets the
original's tools read `auth_*` keys. Tokens are UUID v4: 122 random bits from
the OS's CSPRNG. They are never logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

KEY_PREFIX = "auth_"
_MAX_TOKEN_LENGTH = 128


class TokenStore:
    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int,
        get: Callable[[str], Awaitable[bytes | None]] | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        """`get` may be a faster, caching GET for the hot look-up
        (shared.redis_get); `forget` drops a revoked token from its cache."""
        self._redis = redis
        self._ttl = ttl_seconds
        self._get = get or redis.get
        self._forget = forget

    async def issue(self, user_id: str) -> str:
        token = str(uuid.uuid4())
        await self._redis.set(KEY_PREFIX + token, user_id, ex=self._ttl)
        return token

    async def user_id(self, token: str | None) -> str | None:
        """The user id behind `token`, or None when it is missing, unknown or expired."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        value = await self._get(KEY_PREFIX + token)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def revoke(self, token: str | None) -> bool:
        """Delete the token; False when there was no such token."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return False
        deleted = bool(await self._redis.delete(KEY_PREFIX + token))
        if self._forget is not None:
            self._forget(KEY_PREFIX + token)
        return deleted
