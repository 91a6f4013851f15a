"""One writer at a time per tus upload across nodes, when its bytes are
chunks in S3 (a part file has its flock): a Redis key set NX with a short
expiry, renewed while the chunk streams, released by its holder. A second
request finds it taken and is refused (Conflict), as with a part file.

A writer that dies frees the upload once the key expires (LOCK_SECONDS);
one that stalls past it (a paused process) may find another writer came:
the stored offset's compare-and-set still lets only one of them count."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from redis.asyncio import Redis

from shared.errors import Conflict

# Short, so a client resuming on another node after a node died waits little:
# tus-js-client's default retries of a 409 span 9 s. Renewed three times per expiry.
LOCK_SECONDS = 6
RENEW_EVERY = LOCK_SECONDS / 3

# KEYS: the lock. ARGV: our token, and the expiry in ms (0: delete). Only if still ours.
_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


def lock_key(upload_id: str) -> str:
    return f"upload:{upload_id}:writer"


class UploadLock:
    def __init__(self, redis: Redis, upload_id: str) -> None:
        self._redis = redis
        self.key = lock_key(upload_id)
        self._token = secrets.token_hex(8)
        self._script = redis.register_script(_OURS)
        self._renewing: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Hold it (renewed until release), or Conflict when another request does."""
        if not await self._redis.set(self.key, self._token, nx=True, ex=LOCK_SECONDS):
            raise Conflict("Another request is writing this upload")
        self._renewing = asyncio.create_task(self._renew(), name=f"renew {self.key}")

    async def release(self) -> None:
        """Idempotent; runs to its end even when the caller is cancelled."""
        if self._renewing is None:
            return
        self._renewing.cancel()
        self._renewing = None
        with contextlib.suppress(Exception):
            await asyncio.shield(self._script(keys=[self.key], args=[self._token, 0]))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            with contextlib.suppress(Exception):  # Redis away for a moment: the expiry is 3 turns away
                if not await self._script(keys=[self.key], args=[self._token, LOCK_SECONDS * 1000]):
                    return  # lost (expired and taken): the offset's compare-and-set decides


async def is_free(redis: Redis, upload_id: str) -> bool:
    return not await redis.exists(lock_key(upload_id))
