"""Password hashing: argon2id at OWASP's cost, off the event loop; legacy SHA1
digests verify and ask for a rehash; unknown emails cost a real verification."""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time

import pytest

from shared.config import load_settings
from shared.passwords import PasswordHasher


@pytest.fixture(scope="module")
def production() -> PasswordHasher:
    security = load_settings(env={}).security
    hasher = PasswordHasher(security.argon2_time_cost, security.argon2_memory_kib, security.hash_threads)
    yield hasher
    hasher.close()


async def test_production_parameters_are_owasps(production):
    stored = await production.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await production.verify(stored, "correct horse")
    assert not await production.verify(stored, "wrong horse")
    assert not production.needs_rehash(stored)


async def test_same_password_gets_a_different_salt(production):
    assert await production.hash("pw") != await production.hash("pw")


async def test_hashing_does_not_block_the_event_loop(production):
    """While several hashes run, the loop keeps ticking every few milliseconds."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(production.hash(f"pw{i}") for i in range(6)))
    done.set()
    await task
    assert gaps and max(gaps) < 0.05


async def test_legacy_sha1_verifies_and_needs_rehash(production):
    legacy = hashlib.sha1(b"toto1234!").hexdigest()
    assert await production.verify(legacy, "toto1234!")
    assert await production.verify(legacy.upper(), "toto1234!")
    assert not await production.verify(legacy, "toto1234")
    assert production.needs_rehash(legacy)


async def test_weaker_parameters_need_rehash(production):
    weak = PasswordHasher(1, 64, 1)
    try:
        assert production.needs_rehash(await weak.hash("pw"))
    finally:
        weak.close()


async def test_garbage_stored_hash_never_verifies(production):
    assert not await production.verify("not a hash", "pw")
    assert not await production.verify("", "")


async def test_unknown_user_costs_what_a_wrong_password_costs(production):
    """verify(None, ...) runs a real argon2 verification: the medians of both
    cases are within 40% of each other, while a no-op would be 1000x faster."""
    stored = await production.hash("right")

    async def timed(stored_hash):
        start = time.perf_counter()
        assert not await production.verify(stored_hash, "wrong")
        return time.perf_counter() - start

    wrong = [await timed(stored) for _ in range(7)]
    unknown = [await timed(None) for _ in range(7)]
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.6 < ratio < 1.67, ratio
