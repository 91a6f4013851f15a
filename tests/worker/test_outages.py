"""The machine's trouble is not the job's: a full disk, the database or Redis
unreachable inside a handler. Such failures are retried with the doubling
backoff and do not use up the job's attempts, so the work gets done once the
machine recovers. The disk is a real, small tmpfs filled to the brim."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.errors import StorageBusy, StorageFull, StorageUnavailable
from shared.jobs import Job, stream_of, thumbnails_job
from tests.conftest import fill_disk, until

from .conftest import Data, dead_letters, log_events, queue_empty


@pytest.fixture
def small_disk(tmpfs) -> Path:
    return tmpfs("2m")


async def test_a_full_disk_is_waited_out_then_the_thumbnails_come(
        storage, redis, run_worker, settings, small_disk, capsys):
    s = settings.replace(storage={"folder_path": small_disk},
                         worker={"max_attempts": 2, "retry_base_delay": 0.05, "retry_max_delay": 0.2})
    data = Data(s, storage, redis)
    user_id = await data.user()
    file_id, path = await data.image(user_id, "flower.jpg")
    filler = fill_disk(small_disk)
    running = await run_worker(s)
    await data.enqueue(thumbnails_job(file_id, user_id))
    await until(lambda: running.worker.counts["retried"] >= 5, what="five retries")
    assert await dead_letters(redis) == []  # max_attempts is 2: these retries did not count
    assert not os.path.exists(f"{path}_100")
    assert [n for n in os.listdir(small_disk) if n.endswith(".part")] == []  # no half-written leftovers
    filler.unlink()  # the operator frees some space
    await until(lambda: all(os.path.exists(f"{path}_{w}") for w in (500, 250, 100)),
                what="the thumbnails written once space was freed")
    await until(lambda: queue_empty(redis), what="acked")
    assert await dead_letters(redis) == []
    retries = [e for e in log_events(capsys.readouterr().out) if e["event"] == "job.retry"]
    assert all(e["counted"] is False and e["reason"] == "disk full" for e in retries)
    assert all(e["attempt"] == 1 and "No space left on device" in e["error"] for e in retries)
    assert [e["delay"] for e in retries[:5]] == [0.05, 0.1, 0.2, 0.2, 0.2]  # doubling, capped
    assert [e["waits"] for e in retries[:5]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("trouble", [
    StorageUnavailable("the database does not answer"),
    StorageBusy("the database is locked"),
    StorageFull("the database's disk is full"),
    RedisConnectionError("Redis went away"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
], ids=lambda e: type(e).__name__)
async def test_backends_unavailable_in_a_handler_do_not_use_up_attempts(
        redis, run_worker, settings, trouble):
    calls: list[int] = []

    async def handler(job: Job) -> None:
        calls.append(job.attempts)
        if len(calls) <= 3:
            raise trouble

    s = settings.replace(worker={"max_attempts": 1, "retry_base_delay": 0.01})
    running = await run_worker(s, handlers={"needs_db": handler})
    await redis.xadd(stream_of("needs_db"), Job("needs_db", {}).fields())
    await until(lambda: running.worker.counts["done"] == 1, what="the job done after the outage")
    assert calls == [0, 0, 0, 0]  # the same attempt each time
    assert await dead_letters(redis) == []
    await until(lambda: queue_empty(redis, ("needs_db",)), what="acked")


async def test_a_failure_of_the_job_still_counts(redis, run_worker, settings):
    """Another OSError (the file unreadable) is the job's: max_attempts holds."""
    async def handler(job: Job) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    await run_worker(settings.replace(worker={"max_attempts": 2, "retry_base_delay": 0.01}),
                     handlers={"denied": handler})
    await redis.xadd(stream_of("denied"), Job("denied", {}).fields())
    await until(lambda: redis.xlen("files_manager:jobs:dead"), what="the dead letter")
    [letter] = await dead_letters(redis)
    assert letter["attempts"] == "2" and letter["error"].startswith("PermissionError")
