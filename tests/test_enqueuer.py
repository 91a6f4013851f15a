"""The Enqueuer against real redis-servers: pipelined enqueues keep every
delivery guarantee of a lone XADD, and a batch waits for a replica when the
master has one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from shared.enqueuer import Enqueuer
from shared.jobs import REQUEST_ID, THUMBNAILS, Job, stream_of
from shared.logging import REQUEST_ID as REQUEST_ID_VAR
from shared.redis_client import open_redis
from tests.conftest import private_redis, until

STREAM = stream_of(THUMBNAILS)
DEADLINE = 30  # seconds: far beyond any answer here; only a hang reaches it


class Recorder:
    """A logger that keeps its lines: (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))


def job(n: int) -> Job:
    return Job(THUMBNAILS, {"fileId": f"{n:024x}", "userId": "0" * 24})


async def entries(client: Redis) -> list[tuple[str, dict[str, Any]]]:
    """(entry id, payload) of every job in the stream, in order."""
    return [(entry_id.decode(), Job.from_fields(THUMBNAILS, fields).payload)
            for entry_id, fields in await client.xrange(STREAM)]


async def wait_calls(client: Redis) -> int:
    """How many WAIT commands Redis has run."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


@pytest.fixture
async def client(redis_url: str):
    client = open_redis(redis_url)
    yield client
    await client.aclose()


async def test_concurrent_callers_get_distinct_ids_and_each_job_lands_once(client: Redis) -> None:
    async with Enqueuer(client, max_batch=64) as enqueuer:  # several batches, some full
        ids = await asyncio.wait_for(asyncio.gather(*(enqueuer.enqueue(job(n)) for n in range(500))), DEADLINE)
        assert enqueuer.pending == 0
    assert len(set(ids)) == 500
    stored = await entries(client)
    assert sorted(entry_id for entry_id, _ in stored) == sorted(ids)
    assert sorted(payload["fileId"] for _, payload in stored) == [f"{n:024x}" for n in range(500)]
    # Each caller got its own job's id.
    by_id = dict(stored)
    assert all(by_id[entry_id]["fileId"] == f"{n:024x}" for n, entry_id in enumerate(ids))


async def test_each_job_names_the_request_of_its_own_caller(client: Redis) -> None:
    async with Enqueuer(client) as enqueuer:
        async def caller(n: int) -> str:
            REQUEST_ID_VAR.set(f"request-{n}")  # this caller's task only
            return await enqueuer.enqueue(job(n))

        ids = await asyncio.gather(*(caller(n) for n in range(50)))
        untold = await enqueuer.enqueue(job(50))  # no request: no id
    by_id = dict(await entries(client))
    assert [by_id[entry_id][REQUEST_ID] for entry_id in ids] == [f"request-{n}" for n in range(50)]
    assert REQUEST_ID not in by_id[untold]


async def test_a_refused_job_fails_its_own_caller_only(client: Redis) -> None:
    await client.set(stream_of("broken"), "not a stream")  # XADD to it: WRONGTYPE
    async with Enqueuer(client) as enqueuer:
        results = await asyncio.gather(enqueuer.enqueue(job(1)), enqueuer.enqueue(Job("broken", {})),
                                       enqueuer.enqueue(job(2)), return_exceptions=True)
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])
    assert [payload["fileId"] for _, payload in await entries(client)] == [f"{1:024x}", f"{2:024x}"]
    assert [entry_id for entry_id, _ in await entries(client)] == [results[0], results[2]]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server this test may stop or kill."""
    with private_redis(tmp_path) as (url, proc):
        try:
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)


async def test_redis_killed_midway_fails_every_waiting_caller(own_redis) -> None:
    url, proc = own_redis
    client = open_redis(url)
    enqueuer = Enqueuer(client)

    async def caller(offset: int) -> tuple[int, BaseException]:
        """Enqueue until refused: (jobs enqueued, the error)."""
        done = 0
        while True:
            try:
                await enqueuer.enqueue(job(offset + done))
            except RedisError as exc:
                return done, exc
            done += 1

    try:
        callers = [asyncio.create_task(caller(n * 1_000_000)) for n in range(100)]
        await until(lambda: _length_at_least(client, 2_000), what="jobs flowing")
        proc.kill()
        results = await asyncio.wait_for(asyncio.gather(*callers), DEADLINE)  # nobody hangs
    finally:
        await client.aclose()
    assert all(isinstance(exc, RedisConnectionError | redis.exceptions.TimeoutError) for _, exc in results)
    assert sum(done for done, _ in results) >= 2_000
    assert enqueuer.pending == 0  # nothing held


async def _length_at_least(client: Redis, n: int) -> bool:
    return await client.xlen(STREAM) >= n


async def test_a_cancelled_caller_leaves_the_others_alone(own_redis) -> None:
    url, proc = own_redis
    client = open_redis(url)
    try:
        async with Enqueuer(client) as enqueuer:
            await enqueuer.enqueue(job(0))  # connected
            proc.send_signal(signal.SIGSTOP)  # every reply held back from here
            callers = [asyncio.create_task(enqueuer.enqueue(job(n))) for n in range(1, 11)]
            await until(lambda: enqueuer.pending == 10, what="the callers waiting")
            callers[4].cancel()
            await asyncio.wait({callers[4]})
            proc.send_signal(signal.SIGCONT)
            ids = await asyncio.wait_for(asyncio.gather(*callers[:4], *callers[5:]), DEADLINE)
            assert callers[4].cancelled()
            after = await enqueuer.enqueue(job(11))  # and the enqueuer goes on
        stored = dict(await entries(client))
    finally:
        await client.aclose()
    assert all(stored[entry_id]["fileId"] == f"{n:024x}" for n, entry_id in zip([*range(1, 5), *range(6, 11)], ids,
                                                                               strict=True))
    assert after in stored
    # The cancelled caller's job was queued: it is sent all the same, once.
    assert sorted(p["fileId"] for p in stored.values()) == [f"{n:024x}" for n in range(12)]


async def test_back_pressure_bounds_what_waits(client: Redis) -> None:
    async with Enqueuer(client, max_waiting=8, max_batch=4) as enqueuer:
        seen: list[int] = []

        async def caller(n: int) -> str:
            seen.append(enqueuer.pending)
            entry_id = await enqueuer.enqueue(job(n))
            seen.append(enqueuer.pending)
            return entry_id

        ids = await asyncio.gather(*(caller(n) for n in range(100)))
    assert len(set(ids)) == 100 and await client.xlen(STREAM) == 100
    assert max(seen) <= 8


# -- waiting for a replica ----------------------------------------------------

@pytest.fixture
def master_and_replica(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen]]:
    """(master URL, replica URL, the replica's process), the replica in sync."""
    (tmp_path / "master").mkdir()
    (tmp_path / "replica").mkdir()
    # No diskless-sync delay: the replica is in sync at once, not after 5 s.
    with private_redis(tmp_path / "master", "--repl-diskless-sync-delay", "0") as (master, _):
        port = master.rsplit(":", 1)[1].split("/")[0]
        with private_redis(tmp_path / "replica", "--replicaof", "127.0.0.1", port) as (replica, proc):
            try:
                yield master, replica, proc
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGCONT)


async def _in_sync(master: Redis, replica: Redis) -> bool:
    return ((await master.info("replication")).get("connected_slaves") == 1
            and (await replica.info("replication")).get("master_link_status") == "up")


async def test_with_a_replica_each_batch_waits_for_it(master_and_replica) -> None:
    master_url, replica_url, _ = master_and_replica
    master, replica = open_redis(master_url), open_redis(replica_url)
    try:
        await until(lambda: _in_sync(master, replica), what="the replica in sync")
        before = await wait_calls(master)
        async with Enqueuer(master, replica_wait_timeout=5.0) as enqueuer:
            entry_id = await enqueuer.enqueue(job(1))
            # WAIT answered: the replica holds the job already, no polling.
            assert [e for e, _ in await entries(replica)] == [entry_id]
            ids = await asyncio.gather(*(enqueuer.enqueue(job(n)) for n in range(2, 52)))
            assert [e for e, _ in await entries(replica)] == [entry_id, *ids]
            assert enqueuer.unreplicated == 0
        assert await wait_calls(master) > before
    finally:
        await master.aclose()
        await replica.aclose()


async def test_a_stopped_replica_delays_the_callers_then_they_succeed_with_a_warning(master_and_replica) -> None:
    master_url, replica_url, replica_proc = master_and_replica
    master, replica = open_redis(master_url), open_redis(replica_url)
    log = Recorder()
    try:
        await until(lambda: _in_sync(master, replica), what="the replica in sync")
        counted: list[int] = []  # what the services count for /metrics
        async with Enqueuer(master, replica_wait_timeout=0.3, log=log, on_unreplicated=counted.append) as enqueuer:
            await enqueuer.enqueue(job(0))
            assert log.lines == []
            os.kill(replica_proc.pid, signal.SIGSTOP)
            before = await wait_calls(master)
            ids = await asyncio.wait_for(asyncio.gather(*(enqueuer.enqueue(job(n)) for n in range(1, 6))), DEADLINE)
            assert await wait_calls(master) > before  # it did wait (and the replica never answered)
            assert enqueuer.unreplicated == 5
            assert counted == [5]
        assert [(level, event) for level, event, _ in log.lines] == [("warning", "enqueue.unreplicated")]
        assert log.lines[0][2]["jobs"] == 5
        stored = dict(await entries(master))
        assert all(entry_id in stored for entry_id in ids)
    finally:
        os.kill(replica_proc.pid, signal.SIGCONT)
        await master.aclose()
        await replica.aclose()


async def test_without_replicas_no_wait_is_sent(client: Redis) -> None:
    before = await wait_calls(client)
    async with Enqueuer(client, replica_wait_timeout=1.0) as enqueuer:
        await asyncio.gather(*(enqueuer.enqueue(job(n)) for n in range(20)))
        await enqueuer.enqueue(job(20))
        assert enqueuer.unreplicated == 0
    assert await wait_calls(client) == before
    assert await client.xlen(STREAM) == 21


async def test_a_zero_timeout_never_waits_even_with_a_replica(master_and_replica) -> None:
    master_url, replica_url, _ = master_and_replica
    master, replica = open_redis(master_url), open_redis(replica_url)
    try:
        await until(lambda: _in_sync(master, replica), what="the replica in sync")
        before = await wait_calls(master)
        async with Enqueuer(master, replica_wait_timeout=0) as enqueuer:
            await asyncio.gather(*(enqueuer.enqueue(job(n)) for n in range(10)))
        assert await wait_calls(master) == before
    finally:
        await master.aclose()
        await replica.aclose()
