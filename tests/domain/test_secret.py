"""ServerSecret: one root key in Redis (the cursors'), a key per purpose."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.domain.cursors import KEY_NAME, shared_key
from shared.domain.secret import ServerSecret, derive, is_signed, sign


async def test_every_process_gets_the_same_key_and_each_purpose_its_own(redis_url: str) -> None:
    async with aioredis.from_url(redis_url) as one, aioredis.from_url(redis_url) as two:
        first = await ServerSecret(one).key("share-link-unlock")  # made here
        assert await ServerSecret(two).key("share-link-unlock") == first
        assert await ServerSecret(two).key("other") != first
        root = await one.get(KEY_NAME)
        assert root == await shared_key(two)  # the cursors' key: one secret for the service
        assert derive(root, "share-link-unlock") == first and first != root


async def test_a_lost_key_is_replaced_and_what_it_signed_is_refused(redis_url: str) -> None:
    async with aioredis.from_url(redis_url) as client:
        secret = ServerSecret(client)
        before = await secret.key("share-link-unlock")
        mac = sign(before, "message")
        assert is_signed(await secret.key("share-link-unlock"), "message", mac)
        await client.flushall()  # a Redis restarted without persistence
        after = await secret.key("share-link-unlock")
        assert after != before
        assert not is_signed(after, "message", mac)
