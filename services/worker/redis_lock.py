"""One holder at a time across workers and machines, for periodic work (the
orphan sweep, the purge): a Redis key set NX with an expiry, so a worker
killed while holding it frees it by expiry, and released only by its holder."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from redis.asyncio import Redis

# KEYS: the lock.  ARGV: our token. Deletes the lock only if it is still ours.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(self, redis: Redis, key: str, seconds: int) -> None:
        """`seconds`: longer than the work ever takes."""
        self._redis = redis
        self.key = key
        self._seconds = seconds
        self._unlock = redis.register_script(_UNLOCK)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        """`async with lock.held() as mine:` mine is False when another holds it."""
        token = secrets.token_hex(8)
        if not await self._redis.set(self.key, token, nx=True, ex=self._seconds):
            yield False
            return
        try:
            yield True
        finally:
            await self._unlock(keys=[self.key], args=[token])
