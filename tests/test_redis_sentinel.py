"""open_redis on a redis+sentinel:// URL: the master the sentinels name, and
after a failover the new one, through the same client object. While there
is no master every failure is a ConnectionError (or TimeoutError): what the
API answers with a 503 and the job worker waits out. Real redis-server and
redis-sentinel processes (tests/engines/sentinel.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis_client import open_redis
from shared.redis_get import PipelinedGet
from tests.conftest import free_port, until
from tests.engines.sentinel import SentinelRedis, sentinel_redis

OUTAGE = (RedisConnectionError, RedisTimeoutError)


async def master_port(client) -> int:
    """The port of the server the client's connection reaches."""
    return int((await client.info("server"))["tcp_port"])


async def test_open_redis_on_a_sentinel_url_reaches_the_master(sentinel_engine: SentinelRedis):
    client = open_redis(sentinel_engine.url)
    try:
        await client.set("greeting", "hello")
        assert await master_port(client) == sentinel_engine.current_master()
        assert (await client.execute_command("ROLE"))[0] == b"master"
    finally:
        await client.aclose()
    with sentinel_engine.server(sentinel_engine.current_master()) as direct:
        assert direct.get("greeting") == b"hello"


async def test_a_failover_is_followed_by_the_same_client(sentinel_engine: SentinelRedis):
    client = open_redis(sentinel_engine.url)
    try:
        await client.set("kept", "1")
        assert await client.wait(1, 5000) == 1  # on the replica too, so it survives the master
        old = await asyncio.to_thread(sentinel_engine.kill_master)
        seen: set[type] = set()

        async def answers() -> bool:
            try:
                await client.set("after", "2")
                return True
            except OUTAGE as exc:  # anything else fails the test
                seen.add(type(exc))
                return False

        await until(answers, what="a write accepted by a new master", timeout=60)
        new = await master_port(client)
        assert new != old and new == await asyncio.to_thread(sentinel_engine.wait_for_failover, old)
        assert await client.get("kept") == b"1"
        assert seen  # the outage was seen (as a ConnectionError), not slept through
        await asyncio.to_thread(sentinel_engine.restart_old_master)
        assert await client.get("after") == b"2"
        assert await master_port(client) == new
    finally:
        await client.aclose()


async def test_a_switch_over_moves_open_connections_to_the_new_master(sentinel_engine: SentinelRedis):
    """SENTINEL FAILOVER: the old master lives on as a replica. A reader
    looping on XREADGROUP BLOCK (as the job worker does) and a pooled
    connection both end up on the new master; on the way they see only
    ConnectionErrors (the sentinels drop the demoted master's clients; a
    READONLY would be turned into one too)."""
    client = open_redis(sentinel_engine.url)
    reader = open_redis(sentinel_engine.url)
    errors: list[BaseException] = []
    try:
        await client.xgroup_create("jobs", "workers", id="0", mkstream=True)
        await client.set("pooled", "1")  # a connection to the old master stays in the pool
        old = await master_port(client)
        got: list = []

        async def read_loop() -> None:
            while not got:
                try:
                    got.extend(await reader.xreadgroup("workers", "me", {"jobs": ">"}, block=500) or ())
                except OUTAGE as exc:
                    errors.append(exc)
                    await asyncio.sleep(0.1)

        reading = asyncio.create_task(read_loop())
        await until(lambda: _clients_blocked(sentinel_engine, old), what="the read blocked on the master")
        with sentinel_engine.sentinel(sentinel_engine.sentinel_ports[0]) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", sentinel_engine.master_name)
        new = await asyncio.to_thread(sentinel_engine.wait_for_failover, old)
        await until(lambda: sentinel_engine.role(old) == "slave", what="the old master demoted")

        async def written() -> bool:
            try:
                await client.xadd("jobs", {"n": "1"})
                return True
            except OUTAGE as exc:
                errors.append(exc)
                return False

        await until(written, what="a write through the pooled client")
        await asyncio.wait_for(reading, 20)
        assert got[0][1][0][1] == {b"n": b"1"}
        assert await master_port(client) == new and await master_port(reader) == new
    finally:
        await client.aclose()
        await reader.aclose()


async def test_a_read_blocked_on_a_master_demoted_under_it_ends_as_a_connection_error(
        sentinel_engine: SentinelRedis):
    """A demotion that does not drop the clients (an operator's REPLICAOF):
    Redis answers the blocked read UNBLOCKED, which would read as a command
    error; it is a lost master like any other."""
    client = open_redis(sentinel_engine.url)
    try:
        await client.xgroup_create("jobs", "workers", id="0", mkstream=True)
        port = await master_port(client)
        reading = asyncio.create_task(client.xreadgroup("workers", "me", {"jobs": ">"}, block=5000))
        await until(lambda: _clients_blocked(sentinel_engine, port), what="the read blocked on the master")
        with sentinel_engine.server(port) as direct:
            direct.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # nobody there
            try:
                with pytest.raises(RedisConnectionError, match="UNBLOCKED"):
                    await reading
            finally:
                direct.execute_command("REPLICAOF", "NO", "ONE")
        assert await client.xadd("jobs", {"n": "1"})  # the client goes on
    finally:
        await client.aclose()


def _clients_blocked(engine: SentinelRedis, port: int) -> bool:
    with engine.server(port) as direct:
        return int(direct.info("clients")["blocked_clients"]) > 0


async def test_passwords_for_the_servers_and_for_the_sentinels(tmp_path: Path):
    with sentinel_redis(tmp_path, password="data p@ss", sentinel_password="watch/word") as engine:
        assert "data%20p%40ss" in engine.url and "sentinel_password=watch%2Fword" in engine.url
        client = open_redis(engine.url)
        try:
            await client.set("k", "v")
            assert await client.get("k") == b"v"
        finally:
            await client.aclose()
        wrong = open_redis(engine.url.replace("data%20p%40ss", "nope"))
        try:
            with pytest.raises(RedisConnectionError):  # AuthenticationError is one
                await wrong.ping()
        finally:
            await wrong.aclose()


async def test_closing_the_client_closes_its_connections_to_the_sentinels(sentinel_engine: SentinelRedis):
    def sentinel_clients() -> int:
        with sentinel_engine.sentinel(sentinel_engine.sentinel_ports[0]) as s:
            return int(s.info("clients")["connected_clients"])

    before = sentinel_clients()
    client = open_redis(sentinel_engine.url)
    await client.ping()
    assert sentinel_clients() > before
    await client.aclose()
    await until(lambda: sentinel_clients() == before, what="the sentinel connections closed")


async def test_the_token_look_up_follows_the_master_and_forgets_on_a_failover(sentinel_engine: SentinelRedis):
    """PipelinedGet (the tracked, caching GET of the token look-up) on the
    sentinels' master; a failover ends its connection and what it
    remembered; it reconnects to the new master by itself."""
    client = open_redis(sentinel_engine.url)
    fast = PipelinedGet(sentinel_engine.url)
    try:
        await client.set("auth_t1", "user-1")
        await client.set("auth_t2", "user-2")
        assert await fast.get("auth_t1") == b"user-1"
        assert fast.caching
        await asyncio.to_thread(sentinel_engine.wait_replicated)
        old = await asyncio.to_thread(sentinel_engine.kill_master)

        async def answered() -> bool:
            try:
                return await fast.get("auth_t2") == b"user-2"
            except OUTAGE:
                return False

        await until(answered, what="the look-up answered by the new master", timeout=60)
        assert sentinel_engine.current_master() != old
        await until(lambda: _set_through(client, "auth_t1", "user-9"), what="a write on the new master", timeout=60)
        await until(lambda: _is(fast.get("auth_t1"), b"user-9"), what="the new value, not a remembered one")
        assert await fast.delete("auth_t2") == 1
        assert await client.get("auth_t2") is None
    finally:
        await fast.aclose()
        await client.aclose()


async def test_a_token_deletion_on_a_demoted_master_is_a_connection_error(sentinel_engine: SentinelRedis):
    """A logout whose DEL lands on a master demoted under the connection
    (READONLY): a ConnectionError (a 503 for the client), the connection
    dropped with everything remembered, the next call reconnects."""
    fast = PipelinedGet(sentinel_engine.url)
    port = sentinel_engine.current_master()
    assert port is not None
    try:
        assert await fast.get("auth_t") is None  # connected
        with sentinel_engine.server(port) as direct:
            direct.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # nobody there
            try:
                with pytest.raises(RedisConnectionError, match="READONLY"):
                    await fast.delete("auth_t")
                assert not fast.caching
            finally:
                direct.execute_command("REPLICAOF", "NO", "ONE")
        assert await fast.delete("auth_t") == 0
        assert fast.caching
    finally:
        await fast.aclose()


async def _set_through(client, key: str, value: str) -> bool:
    try:
        await client.set(key, value)
        return True
    except OUTAGE:
        return False


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_a_master_short_of_replicas_refusing_writes_is_an_outage(sentinel_engine: SentinelRedis):
    """min-replicas-to-write (a usual companion of Sentinel) with too few
    replicas: the master refuses writes (NOREPLICAS) until they are back,
    a ConnectionError as any moment without a writable master."""
    client = open_redis(sentinel_engine.url)
    fast = PipelinedGet(sentinel_engine.url)  # a logout's DEL goes through it
    port = sentinel_engine.current_master()
    assert port is not None
    try:
        await client.set("before", "1")
        assert await fast.get("before") == b"1"
        with sentinel_engine.server(port) as direct:
            direct.config_set("min-replicas-to-write", 2)  # there is one
            try:
                with pytest.raises(RedisConnectionError, match="NOREPLICAS"):
                    await client.set("k", "v")
                pipe = client.pipeline(transaction=True)
                pipe.set("k", "v")
                pipe.get("before")
                with pytest.raises(RedisConnectionError, match="NOREPLICAS"):
                    await pipe.execute()
                with pytest.raises(RedisConnectionError, match="NOREPLICAS"):
                    await fast.delete("before")
                assert await client.get("before") == b"1"  # reads go on
                assert await fast.get("before") == b"1"
            finally:
                direct.config_set("min-replicas-to-write", 0)
        assert await client.set("k", "v")
        assert await fast.delete("before") == 1
    finally:
        await fast.aclose()
        await client.aclose()


async def test_after_a_failover_the_enqueuer_asks_the_new_master_about_its_own_replicas(
        sentinel_engine: SentinelRedis):
    """Before the failover the master has a replica and each batch WAITs for
    it; the promoted replica has none (the old master is dead), so the first
    batch on it sends no WAIT that could only time out."""
    from shared.enqueuer import Enqueuer
    from shared.jobs import Job

    client = open_redis(sentinel_engine.url)
    unreplicated: list[int] = []
    enqueuer = Enqueuer(client, 5.0, on_unreplicated=unreplicated.append)
    try:
        await enqueuer.enqueue(Job("test", {"n": 1}))
        old = await asyncio.to_thread(sentinel_engine.kill_master)
        new = await asyncio.to_thread(sentinel_engine.wait_for_failover, old)

        async def enqueued() -> bool:
            try:
                await enqueuer.enqueue(Job("test", {"n": 2}))
                return True
            except OUTAGE:
                return False

        await until(enqueued, what="an enqueue on the new master", timeout=60)
        with sentinel_engine.server(new) as promoted:
            waits = promoted.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
            assert promoted.xlen("files_manager:jobs:test") == 2
        assert waits == 0 and unreplicated == []
    finally:
        await enqueuer.aclose()
        await client.aclose()
