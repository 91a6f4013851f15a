"""The service's own secret, for values it hands out and must recognise later
unchanged (share-link unlock cookies, list cursors): one random key in Redis,
made by whichever process needs it first, so every process and node signs and
checks with the same key.

Each use gets a key of its own derived from it (HMAC of the purpose), so a
value made for one purpose is never valid for another.

The key is read from Redis on every use, not kept in the process: should Redis
lose it (a restart without persistence, a flush), every process moves to the
new one together. What was signed with the old key is then refused: an
unlock cookie asks for the password again, a cursor is 400 `Invalid cursor`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from redis.asyncio import Redis

SECRET_KEY = "files_manager:secret"  # 64 hex digits, never expires
_KEY_BYTES = 32


class ServerSecret:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def key(self, purpose: str) -> bytes:
        """The key for `purpose` (e.g. "share-link-unlock"): one round trip to Redis."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(SECRET_KEY, secrets.token_hex(_KEY_BYTES), nx=True)
            pipe.get(SECRET_KEY)
            _, master = await pipe.execute()
        return derive(master if isinstance(master, bytes) else master.encode(), purpose)


def derive(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode("utf-8"), hashlib.sha256).digest()


def sign(key: bytes, message: str) -> str:
    """A MAC of `message`, hex."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def is_signed(key: bytes, message: str, mac: str) -> bool:
    """Whether `mac` is sign(key, message), in constant time."""
    return hmac.compare_digest(sign(key, message), mac)
