"""TokenStore against a real redis-server: the per-user index a password
change ends tokens by, the tokens written by others (the original service,
tools) found while they can still be alive, and the look-up of every request
left as it was: one GET."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis

from shared.redis_get import PipelinedGet
from shared.tokens import INDEXED_SINCE, KEY_PREFIX, LEGACY_TTL, TokenStore, index_key

ANN, BOB = "a" * 24, "b" * 24
TTL = 3600


@pytest.fixture
async def redis(redis_url: str):
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def cached(redis_url: str):
    fast = PipelinedGet(redis_url)
    yield fast
    await fast.aclose()


async def test_issue_indexes_the_token_until_its_expiry(redis):
    tokens = TokenStore(redis, TTL)
    before = time.time()
    session = await tokens.issue(ANN)
    assert uuid.UUID(session.token).version == 4
    assert before + TTL - 1 <= session.expires_at <= time.time() + TTL + 1
    assert await redis.get(KEY_PREFIX + session.token) == ANN.encode()
    assert TTL - 2 <= await redis.ttl(KEY_PREFIX + session.token) <= TTL
    index = await redis.zrange(index_key(ANN), 0, -1, withscores=True)
    assert index == [(session.token.encode(), session.expires_at * 1000)]
    assert TTL - 2 <= await redis.ttl(index_key(ANN)) <= TTL
    assert await redis.exists(INDEXED_SINCE)


async def test_issue_prunes_the_index_of_tokens_past_their_expiry(redis):
    tokens = TokenStore(redis, TTL)
    await redis.zadd(index_key(ANN), {"expired-long-ago": 1000, "expired-just-now": time.time() * 1000 - 1})
    session = await tokens.issue(ANN)
    assert await redis.zrange(index_key(ANN), 0, -1) == [session.token.encode()]


async def test_the_index_lives_as_long_as_its_last_token(redis):
    await TokenStore(redis, TTL).issue(ANN)
    await TokenStore(redis, 10 * TTL).issue(ANN)  # token_ttl raised meanwhile
    await TokenStore(redis, TTL).issue(ANN)
    assert 10 * TTL - 2 <= await redis.ttl(index_key(ANN)) <= 10 * TTL


async def test_revoke_with_the_user_takes_the_token_out_of_the_index(redis, cached):
    tokens = TokenStore(redis, TTL, cached=cached)
    first, second = (await tokens.issue(ANN)).token, (await tokens.issue(ANN)).token
    assert await tokens.user_id(first) == ANN  # remembered by this process
    assert await tokens.revoke(first, ANN)
    assert await tokens.user_id(first) is None
    assert await redis.zrange(index_key(ANN), 0, -1) == [second.encode()]
    assert not await tokens.revoke(first, ANN)


async def test_revoke_others_ends_every_token_of_the_user_but_one(redis, cached):
    tokens = TokenStore(redis, TTL, cached=cached)
    ann = [(await tokens.issue(ANN)).token for _ in range(5)]
    bob = (await tokens.issue(BOB)).token
    for token in [*ann, bob]:
        assert await tokens.user_id(token) is not None  # remembered
    assert await tokens.revoke_others(ANN, keep=ann[2]) == 4
    assert [await tokens.user_id(token) for token in ann] == [None, None, ANN, None, None]
    assert await tokens.user_id(bob) == BOB
    assert await redis.zrange(index_key(ANN), 0, -1) == [ann[2].encode()]


async def test_revoke_others_in_batches(redis):
    tokens = TokenStore(redis, TTL)
    many = [(await tokens.issue(ANN)).token for _ in range(2500)]
    assert await tokens.revoke_others(ANN, keep=None) == 2500
    assert await redis.exists(*(KEY_PREFIX + token for token in many)) == 0
    assert await redis.exists(index_key(ANN)) == 0


async def written_by_the_original(redis, user_id: str) -> str:
    """A token as the original service (or its checkers) write one: no index."""
    token = str(uuid.uuid4())
    await redis.set(KEY_PREFIX + token, user_id, ex=86400)
    return token


async def test_tokens_written_by_others_are_ended_while_they_can_be_alive(redis):
    legacy = [await written_by_the_original(redis, ANN) for _ in range(3)]
    bobs = await written_by_the_original(redis, BOB)
    for i in range(2100):  # more than a SCAN step of other users' tokens
        await redis.set(f"{KEY_PREFIX}other-{i}", BOB)
    tokens = TokenStore(redis, TTL)
    keeper = (await tokens.issue(ANN)).token  # the first indexed token: the window opens now
    assert await tokens.revoke_others(ANN, keep=legacy[0]) == 3
    assert await redis.exists(KEY_PREFIX + legacy[0]) == 1
    assert await redis.exists(*(KEY_PREFIX + token for token in (*legacy[1:], keeper))) == 0
    assert await redis.exists(KEY_PREFIX + bobs) == 1


async def test_past_the_upgrade_s_first_hour_a_user_is_swept_once(redis):
    """Once the processes that issued unindexed tokens are gone, one sweep
    per user ends all of that user's: later changes read the index only."""
    tokens = TokenStore(redis, TTL)
    await tokens.issue(ANN)
    seconds, _ = await redis.time()
    await redis.set(INDEXED_SINCE, (seconds - 3601) * 1000)
    legacy = await written_by_the_original(redis, ANN)
    assert await tokens.revoke_others(ANN, keep=None) == 2
    assert await redis.exists(KEY_PREFIX + legacy) == 0
    window_left = LEGACY_TTL + 3600 - 3601
    assert window_left - 5 <= await redis.ttl("files_manager:user_tokens:swept:" + ANN) <= window_left
    written_later = await written_by_the_original(redis, ANN)  # not by this service: survives
    indexed = (await tokens.issue(ANN)).token
    assert await tokens.revoke_others(ANN, keep=None) == 1
    assert await redis.exists(KEY_PREFIX + indexed) == 0
    assert await redis.exists(KEY_PREFIX + written_later) == 1
    # Bob's own sweep is still due.
    bobs = await written_by_the_original(redis, BOB)
    assert await tokens.revoke_others(BOB, keep=None) == 1
    assert await redis.exists(KEY_PREFIX + bobs) == 0


async def test_in_the_upgrade_s_first_hour_every_change_sweeps(redis):
    tokens = TokenStore(redis, TTL)
    await tokens.issue(ANN)  # the window opens now
    assert await tokens.revoke_others(ANN, keep=None) == 1
    assert not await redis.exists("files_manager:user_tokens:swept:" + ANN)
    legacy = await written_by_the_original(redis, ANN)  # an old process still running
    assert await tokens.revoke_others(ANN, keep=None) == 1
    assert await redis.exists(KEY_PREFIX + legacy) == 0


async def test_past_the_window_only_indexed_tokens_are_ended(redis):
    """The documented limit: a day and an hour after the first indexed token,
    every token this service issued is indexed; one written into Redis by
    another program then survives a password change."""
    tokens = TokenStore(redis, TTL)
    indexed = (await tokens.issue(ANN)).token
    seconds, _ = await redis.time()
    await redis.set(INDEXED_SINCE, (seconds - LEGACY_TTL - 3601) * 1000)
    foreign = await written_by_the_original(redis, ANN)
    assert await tokens.revoke_others(ANN, keep=None) == 1
    assert await redis.exists(KEY_PREFIX + indexed) == 0
    assert await redis.exists(KEY_PREFIX + foreign) == 1


async def test_the_look_up_of_a_request_is_one_get(redis):
    """What every authenticated request costs in Redis is what it cost before
    the index: one GET (the caching client adds its PTTL on a miss, as before)."""
    tokens = TokenStore(redis, TTL)
    session = await tokens.issue(ANN)
    await redis.config_resetstat()
    for _ in range(10):
        assert await tokens.user_id(session.token) == ANN
    stats = await redis.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 10
    assert {name for name in stats if not name.startswith("cmdstat_config")} == {"cmdstat_get"}
