"""Keys for values the service hands out and must recognise later unchanged
(share-link unlock cookies; list cursors sign with the root key itself).

One root key for the whole service: the list cursors' key, kept in Redis
(cursors.shared_key: made by whichever process needs it first, so every
process and node has the same). Each other use gets a key of its own derived
from it (HMAC of the purpose), so a value made for one purpose is never valid
for another.

The key is read from Redis on every use, not kept in the process: should Redis
lose it (a restart without persistence, a flush), every process moves to the
new one at once, and what was signed with the old one is refused (an unlock
cookie asks for the password again).
"""

from __future__ import annotations

import hashlib
import hmac

from redis.asyncio import Redis

from .cursors import KEY_NAME, shared_key


class ServerSecret:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def key(self, purpose: str) -> bytes:
        """The key for `purpose` (e.g. "share-link-unlock"): one round trip to
        Redis, two the first time (when the root key is made)."""
        root = await self._redis.get(KEY_NAME)
        if not isinstance(root, bytes) or len(root) < 16:
            root = await shared_key(self._redis)
        return derive(root, purpose)


def derive(root: bytes, purpose: str) -> bytes:
    return hmac.new(root, purpose.encode("utf-8"), hashlib.sha256).digest()


def sign(key: bytes, message: str) -> str:
    """A MAC of `message`, hex."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def is_signed(key: bytes, message: str, mac: str) -> bool:
    """Whether `mac` is sign(key, message), in constant time."""
    return hmac.compare_digest(sign(key, message), mac)
