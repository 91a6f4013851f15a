"""A job worker on a Sentinel-managed Redis rides through a failover: the
jobs it holds when the master dies finish and are settled on the new master,
new jobs are read from it, and a new master without the consumer group
(NOGROUP) gets it made again. Nothing is lost (at least once). Real
redis-server and redis-sentinel processes (tests/engines/sentinel.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.worker.consumer import JobWorker
from shared.config import load_settings
from shared.enqueuer import Enqueuer
from shared.jobs import GROUP, Job, stream_of
from shared.redis_client import open_redis
from tests.conftest import service_env, until
from tests.engines.sentinel import SentinelRedis

from .conftest import RunningWorker, dead_letters, log_events, queue_empty

KIND = "slow"
IN_HAND = 4


async def enqueue_through(enqueuer: Enqueuer, job: Job) -> None:
    """Enqueue, waiting out the moments without a master (as a client retrying its 503s)."""
    async def sent() -> bool:
        try:
            await enqueuer.enqueue(job)
            return True
        except (RedisConnectionError, RedisTimeoutError):
            return False

    await until(sent, what="the job enqueued", timeout=60)


async def test_jobs_in_hand_when_the_master_dies_are_finished_and_settled_on_the_new_one(
        sentinel_engine: SentinelRedis, tmp_path: Path, capsys):
    await ride_through(sentinel_engine, tmp_path, drop_group=False)
    events = [e["event"] for e in log_events(capsys.readouterr().out)]
    assert "worker.redis_error" in events  # the outage was seen, and waited out


async def test_a_new_master_without_the_consumer_group_gets_it_again(
        sentinel_engine: SentinelRedis, tmp_path: Path, capsys):
    await ride_through(sentinel_engine, tmp_path, drop_group=True)
    events = [e["event"] for e in log_events(capsys.readouterr().out)]
    assert "worker.group_recreated" in events


async def ride_through(engine: SentinelRedis, tmp_path: Path, *, drop_group: bool) -> None:
    settings = load_settings(env=service_env(tmp_path, engine.url, WORKER_CLAIM_IDLE="1",
                                             WORKER_CONCURRENCY=str(IN_HAND), WORKER_RETRY_BASE_DELAY="0.05"))
    gate = asyncio.Event()
    started: list[int] = []
    finished: list[int] = []

    async def slow(job: Job) -> None:
        started.append(job.payload["n"])
        if job.payload["n"] < IN_HAND:
            await gate.wait()
        finished.append(job.payload["n"])

    redis = open_redis(engine.url)
    enqueuer = Enqueuer(redis, settings.redis.replica_wait_timeout)
    running = await RunningWorker(JobWorker(settings, handlers={KIND: slow})).start()
    try:
        for n in range(IN_HAND):
            await enqueuer.enqueue(Job(KIND, {"n": n}))
        await until(lambda: set(started) == set(range(IN_HAND)), what="the jobs in hand")
        await asyncio.to_thread(engine.wait_replicated)  # entries and deliveries on the replica too
        old = await asyncio.to_thread(engine.kill_master)
        await asyncio.to_thread(engine.wait_for_failover, old)
        if drop_group:  # as if the group had been made on the old master only
            with engine.server(engine.current_master()) as new_master:
                new_master.xgroup_destroy(stream_of(KIND), GROUP)
        gate.set()  # the jobs in hand finish now, their acks go to the new master
        for n in range(IN_HAND, 2 * IN_HAND):
            await enqueue_through(enqueuer, Job(KIND, {"n": n}))
        await until(lambda: set(finished) == set(range(2 * IN_HAND)), what="every job done", timeout=60)
        await until(lambda: queue_empty(redis, (KIND,)), what="every job settled on the new master", timeout=30)
        assert await dead_letters(redis) == []
        assert not running.task.done()  # the worker went on, nothing restarted it
    finally:
        await running.stop(5.0)
        await enqueuer.aclose()
        await redis.aclose()
