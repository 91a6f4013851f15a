"""Password hashing: argon2id (OWASP's first choice), always off the event loop.

Users carried over from the original service hold a bare SHA1 hex digest; they
can still log in, and `needs_rehash` tells the caller to replace the digest
with an argon2id hash on that successful login. SHA1 is never written.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

_LEGACY_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


def is_legacy_sha1(stored: str) -> bool:
    return _LEGACY_SHA1.fullmatch(stored) is not None


class PasswordHasher:
    """Hashes and verifies in a small thread pool (argon2-cffi releases the GIL),
    so hashing costs latency for one request, never the whole process."""

    def __init__(self, time_cost: int, memory_kib: int, threads: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=1
        )
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="password-hash")
        # Verified when the email is unknown, so that costs what a wrong password
        # costs. Made on the pool, first in its queue, so a starting (or
        # replacement) worker does not wait 30-50 ms for it before serving.
        self._dummy = self._pool.submit(self._hasher.hash, secrets.token_urlsafe(16))

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    def _verify_sync(self, stored: str | None, password: str) -> bool:
        if stored is None or is_legacy_sha1(stored):
            # Pay the argon2 price anyway: timing must not tell which emails exist
            # or which accounts still hold a legacy digest.
            self._check(self._dummy.result(), password)
            if stored is None:
                return False
            digest = hashlib.sha1(password.encode("utf-8")).hexdigest()
            return hmac.compare_digest(digest, stored.lower())
        return self._check(stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored` (None: no such user, always False)."""
        return await self._run(self._verify_sync, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        if is_legacy_sha1(stored):
            return True
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
