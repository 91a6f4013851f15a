"""shared.redis_get: pipelined GETs whose values are remembered under Redis's
CLIENT TRACKING. What must hold: a remembered value is never served once Redis
has changed, deleted, expired or flushed it, nor once the connection is lost
or silent; without tracking (refused by Redis) every GET goes to Redis."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import hiredis
import pytest
import redis as sync_redis
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared import redis_get
from shared.redis_get import PipelinedGet
from tests.conftest import private_redis


@pytest.fixture
async def other(redis_url: str) -> AsyncIterator[aredis.Redis]:
    """Another client: what other API processes and tools do to the keys."""
    client = aredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fast(redis_url: str) -> AsyncIterator[PipelinedGet]:
    client = PipelinedGet(redis_url)
    yield client
    await client.aclose()


async def gets_served_by_redis(other: aredis.Redis) -> int:
    return (await other.info("commandstats")).get("cmdstat_get", {}).get("calls", 0)


async def settle(fast: PipelinedGet) -> None:
    """Wait until Redis's pushes sent so far are handled: a GET of another key
    goes over the same connection, so its reply comes after them."""
    await fast.get("settle-not-a-key")


async def test_a_value_is_remembered_then_follows_every_change(fast: PipelinedGet, other: aredis.Redis) -> None:
    await other.set("auth_t", "u1", ex=3600)
    assert await fast.get("auth_t") == b"u1"
    assert fast.caching
    served = await gets_served_by_redis(other)
    for _ in range(5):
        assert await fast.get("auth_t") == b"u1"
    assert await gets_served_by_redis(other) == served  # answered from memory

    await other.set("auth_t", "u2", ex=3600)
    await settle(fast)
    assert await fast.get("auth_t") == b"u2"

    await other.delete("auth_t")
    await settle(fast)
    assert await fast.get("auth_t") is None

    await other.set("auth_t", "u3", ex=3600)
    assert await fast.get("auth_t") == b"u3"
    await other.flushall()
    await settle(fast)
    assert await fast.get("auth_t") is None


async def test_many_lookups_in_flight_while_the_key_changes(fast: PipelinedGet, other: aredis.Redis) -> None:
    """Replies and invalidations interleave on one connection: whatever the
    timing, once a change is settled no look-up returns the old value."""
    for round_ in range(20):
        await other.set("auth_race", f"v{round_}")
        lookups = [asyncio.ensure_future(fast.get("auth_race")) for _ in range(10)]
        await other.set("auth_race", f"w{round_}")
        await asyncio.gather(*lookups)
        await settle(fast)
        assert await fast.get("auth_race") == f"w{round_}".encode()


async def test_a_value_is_not_served_past_its_expiry(fast: PipelinedGet, other: aredis.Redis) -> None:
    """The key's PTTL is fetched with it: even when Redis has not yet expired
    the key (so sent no invalidation), the remembered value ends on time."""
    await other.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        await other.set("auth_short", "u", px=80)
        assert await fast.get("auth_short") == b"u"
        served = await gets_served_by_redis(other)
        assert await fast.get("auth_short") == b"u"
        assert await gets_served_by_redis(other) == served
        await asyncio.sleep(0.1)  # the TTL running out is the event waited for
        assert await fast.get("auth_short") is None
        assert await gets_served_by_redis(other) == served + 1
    finally:
        await other.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


async def test_a_lost_connection_forgets_everything(fast: PipelinedGet, other: aredis.Redis) -> None:
    await other.set("auth_k", "before")
    assert await fast.get("auth_k") == b"before"
    killed = await other.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    await other.set("auth_k", "after")  # no invalidation can reach the dead connection
    for _ in range(3):
        assert await fast.get("auth_k") == b"after"  # reconnected, re-read


async def test_a_silent_redis_stops_the_cache(fast: PipelinedGet, other: aredis.Redis,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis paused (as in a network partition: nothing answers, nothing
    closes): remembered values stop being served after STALE_AFTER."""
    monkeypatch.setattr(redis_get, "STALE_AFTER", 0.3)
    monkeypatch.setattr(redis_get, "PING_EVERY", 0.1)
    await fast.aclose()  # reconnect under the shortened settings
    await other.set("auth_p", "u")
    assert await fast.get("auth_p") == b"u"
    await other.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    assert await fast.get("auth_p") == b"u"  # still fresh
    await asyncio.sleep(0.5)  # silence longer than STALE_AFTER is the event waited for
    with pytest.raises(asyncio.TimeoutError):  # not from memory: it waits for Redis
        await asyncio.wait_for(fast.get("auth_p"), 0.2)
    assert await asyncio.wait_for(fast.get("auth_p"), 5) == b"u"  # answered once Redis is back


async def test_without_tracking_every_get_goes_to_redis(redis_url: str, other: aredis.Redis) -> None:
    """A Redis that refuses HELLO and CLIENT (older than 6, a proxy, an ACL)
    still serves plain pipelined GETs, and nothing is remembered."""
    await other.execute_command("ACL", "SETUSER", "limited", "on", ">pw", "~*", "+get", "+pttl", "+ping",
                                "+select", "-hello", "-client")
    try:
        fast = PipelinedGet(redis_url.replace("redis://", "redis://limited:pw@"))
        try:
            await other.set("auth_plain", "u")
            assert await fast.get("auth_plain") == b"u"
            assert not fast.caching
            served = await gets_served_by_redis(other)
            assert await fast.get("auth_plain") == b"u"
            assert await gets_served_by_redis(other) == served + 1
        finally:
            await fast.aclose()
    finally:
        await other.execute_command("ACL", "DELUSER", "limited")


async def test_redis_down_is_a_connection_error_then_recovers(tmp_path) -> None:
    with private_redis(tmp_path) as (url, proc):
        fast = PipelinedGet(url, timeout=2)
        writer = aredis.Redis.from_url(url)
        try:
            await writer.set("auth_d", "u")
            assert await fast.get("auth_d") == b"u"
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)
            with pytest.raises(RedisConnectionError):
                await fast.get("auth_d")  # never the remembered value once Redis is gone
        finally:
            await fast.aclose()
            await writer.aclose()


async def test_reconnections_keep_one_heartbeat(fast: PipelinedGet, other: aredis.Redis,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reconnection must not add a PING loop of its own."""
    monkeypatch.setattr(redis_get, "PING_EVERY", 0.05)
    await other.set("auth_hb", "u")
    for _ in range(4):
        assert await fast.get("auth_hb") == b"u"
        await other.client_kill_filter(_type="normal", skipme=True)
        await other.set("auth_hb", "u")  # the kill is seen by the time this returns
    assert await fast.get("auth_hb") == b"u"
    await other.config_resetstat()
    await asyncio.sleep(0.5)  # ten heartbeats' worth of time is the event waited for
    pings = (await other.info("commandstats")).get("cmdstat_ping", {}).get("calls", 0)
    assert 5 <= pings <= 13  # one loop: about 10 PINGs (the INFO client sends none)


def tracking_reader(redis_url: str, key: str) -> socket.socket:
    """Another process's tracking connection, driven by nobody: a blocking
    socket that has read `key` under CLIENT TRACKING (RESP3)."""
    params = urlsplit(redis_url)
    sock = socket.create_connection((params.hostname, params.port), timeout=5)
    reader = hiredis.Reader()
    sock.sendall(b"HELLO 3\r\nCLIENT TRACKING ON\r\nGET " + key.encode() + b"\r\n")
    replies: list = []
    while len(replies) < 3:
        reader.feed(sock.recv(65536))
        while (reply := reader.gets()) is not False:
            replies.append(reply)
    assert replies[1] == b"OK" and replies[2] == b"u", replies
    return sock


async def test_delete_returns_once_every_tracking_connection_holds_the_invalidation(
        redis_url: str, fast: PipelinedGet, other: aredis.Redis) -> None:
    """When `delete` returns, the push is already in the socket of every
    connection tracking the key (so another process cannot miss it)."""
    await other.set("auth_del", "u")
    sock = tracking_reader(redis_url, "auth_del")
    try:
        assert await fast.delete("auth_del", "auth_none") == 1
        sock.setblocking(False)
        reader = hiredis.Reader()
        reader.feed(sock.recv(65536))  # BlockingIOError if nothing had arrived
        push = reader.gets()
        assert type(push) is hiredis.PushNotification and list(push) == [b"invalidate", [b"auth_del"]]
    finally:
        sock.close()
    assert await fast.delete("auth_del") == 0


async def test_an_invalidation_waiting_in_the_socket_is_honoured_before_a_hit(
        redis_url: str, fast: PipelinedGet, other: aredis.Redis) -> None:
    """The event loop may not have read a push yet when a look-up checks the
    cache: the look-up must not answer from memory then. A blocking client
    deletes the key (the loop does not run meanwhile), then a PING's reply
    says the push was written; the look-up that follows must see it."""
    await other.set("auth_w", "u")
    assert await fast.get("auth_w") == b"u"
    served = await gets_served_by_redis(other)
    assert await fast.get("auth_w") == b"u"
    assert await gets_served_by_redis(other) == served  # from memory
    with sync_redis.Redis.from_url(redis_url) as blocking:
        blocking.delete("auth_w")
        blocking.ping()
    assert await fast.get("auth_w") is None
