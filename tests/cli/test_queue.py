"""`python supervisor.py queue status|requeue-dead|purge-dead` on a real
queue: dead letters made by a real worker and by the worker's own Settler,
jobs waiting, one in flight, one retry waiting for its time."""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from services.worker.settle import Settler
from shared.enqueuer import Enqueuer
from shared.jobs import DEAD_LETTERS, GROUP, THUMBNAILS, WELCOME, Job, stream_of, thumbnails_job, welcome_job
from tests.conftest import free_port, until
from tests.worker.conftest import WorkerProcess

from .conftest import supervisor


async def _dead(redis: Redis, n: int) -> bool:
    return await redis.xlen(DEAD_LETTERS) >= n


async def dead_by_worker(env: dict[str, str], redis: Redis, tmp_path, jobs: list[Job]) -> None:
    """Jobs a real worker dead-letters at once (they fail validation)."""
    before = await redis.xlen(DEAD_LETTERS)
    worker = WorkerProcess(env, tmp_path / f"worker-{before}.log")
    try:
        for job in jobs:
            await Enqueuer(redis).enqueue(job)
        await until(lambda: _dead(redis, before + len(jobs)), timeout=60, what="the dead letters")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()[-2000:]


async def dead_by_settler(redis: Redis, job: Job, error: str) -> None:
    """A job dead-lettered as the worker does it (read, then settled by its Settler)."""
    stream = stream_of(job.kind)
    entry = await Enqueuer(redis).enqueue(job)
    [[_, [(read_id, _)]]] = await redis.xreadgroup(GROUP, "test", {stream: ">"}, count=1)
    assert read_id.decode() == entry
    assert await Settler(redis).dead(stream, entry, job, error)


async def entries(redis: Redis, kind: str) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange(stream_of(kind))]


@pytest.fixture
async def busy_queue(env_for, redis: Redis, tmp_path) -> None:
    """Two dead letters (welcome, thumbnails) from a real worker; then three
    thumbnails jobs waiting, one of them read and not acknowledged, and a
    fourth scheduled for a retry in an hour, as the Settler schedules one."""
    await dead_by_worker(env_for, redis, tmp_path, [Job(WELCOME, {}), Job(THUMBNAILS, {"userId": "x"})])
    stream = stream_of(THUMBNAILS)
    for i in range(4):
        await Enqueuer(redis).enqueue(thumbnails_job(f"{i:024x}", "0" * 24))
    [[_, read]] = await redis.xreadgroup(GROUP, "busy", {stream: ">"}, count=2)
    (retried, fields) = read[1]
    await Settler(redis).retry(stream, retried.decode(), Job.from_fields(THUMBNAILS, fields), delay=3600)


async def test_status_per_kind_and_the_recent_dead_letters(env_for, redis, busy_queue):
    ran = supervisor(env_for, "queue", "status", "--json")
    assert ran.code == 0, ran.stderr
    status = ran.json()
    thumbnails, welcome = status["streams"][THUMBNAILS], status["streams"][WELCOME]
    assert (thumbnails["length"], thumbnails["pending"], thumbnails["delayed"], thumbnails["dead"]) == (3, 1, 1, 1)
    assert thumbnails["consumers"] >= 1  # "busy" (and the worker that stopped: consumers stay named)
    assert 0 <= thumbnails["oldest_age"] < 3600
    assert (welcome["length"], welcome["pending"], welcome["delayed"], welcome["dead"]) == (0, 0, 0, 1)
    assert welcome["oldest_age"] is None
    assert status["dead_letters"] == 2
    assert sorted((d["kind"], d["error"]) for d in status["recent_dead"]) == [
        (THUMBNAILS, "Missing fileId"), (WELCOME, "Missing userId")]

    text = supervisor(env_for, "queue", "status")
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["stream", "length", "pending", "delayed", "consumers", "oldest", "dead"]
    row = lines[1].split()
    assert row[:4] == [THUMBNAILS, "3", "1", "1"] and row[5].endswith("s") and row[6] == "1"
    assert lines[2].split() == [WELCOME, "0", "0", "0", "0", "-", "1"]
    assert "dead letters: 2" in lines
    assert any(line.endswith(": Missing userId") for line in lines)


async def test_requeue_dead_of_one_kind_resets_its_attempts(env_for, redis, busy_queue):
    ran = supervisor(env_for, "queue", "requeue-dead", "--kind", WELCOME)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.strip() == "requeued 1 dead letter(s) of kind welcome"
    [letter] = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange(DEAD_LETTERS)]
    assert letter["kind"] == THUMBNAILS  # the other kind stays dead
    [requeued] = await entries(redis, WELCOME)
    assert requeued["attempts"] == "0" and requeued["data"] == "{}"

    everything = supervisor(env_for, "queue", "requeue-dead", "--json")
    assert everything.code == 0, everything.stderr
    assert everything.json() == {"requeued": 1, "kind": None}
    assert await redis.xlen(DEAD_LETTERS) == 0
    assert (await entries(redis, THUMBNAILS))[-1]["data"] == '{"userId":"x"}'


async def test_purge_dead_of_one_kind_then_all(env_for, redis, busy_queue):
    for _ in range(2):
        await dead_by_settler(redis, welcome_job("f" * 24), "SMTP refused: mailbox unavailable")
    ran = supervisor(env_for, "queue", "purge-dead", "--kind", WELCOME, "--json")
    assert ran.code == 0, ran.stderr
    assert ran.json() == {"purged": 3, "kind": WELCOME}
    kinds = [f[b"kind"].decode() for _, f in await redis.xrange(DEAD_LETTERS)]
    assert kinds == [THUMBNAILS]
    assert await redis.xlen(stream_of(WELCOME)) == 0  # purged, not requeued

    await redis.xadd(DEAD_LETTERS, {"data": "{}", "error": "written by another tool"})  # no kind at all
    rest = supervisor(env_for, "queue", "purge-dead")
    assert rest.code == 0, rest.stderr
    assert rest.stdout.strip() == "purged 2 dead letter(s)"
    assert await redis.xlen(DEAD_LETTERS) == 0
    assert await redis.xlen(stream_of(THUMBNAILS)) == 3  # the live jobs are untouched


def test_bad_usage_exits_2(env_for):
    for args in (["queue"], ["queue", "requeue-dead", "--kind", "nope"], ["queue", "purge-dead", "extra"]):
        ran = supervisor(env_for, *args)
        assert ran.code == 2, args
        assert ran.stdout == ""


@pytest.mark.parametrize("action", ["status", "requeue-dead", "purge-dead"])
def test_redis_unreachable_exits_1_without_the_url(env_for, action):
    env = {**env_for, "REDIS_URL": f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"}
    ran = supervisor(env, "queue", action, "--json")
    assert ran.code == 1
    assert ran.stdout == ""
    assert "Redis is unreachable" in ran.stderr
    assert "s3cret" not in ran.stderr and "127.0.0.1" not in ran.stderr
