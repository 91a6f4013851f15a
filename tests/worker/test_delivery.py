"""Delivery mechanics against the real Redis: retries with backoff, dead
letters, contained exceptions, claiming from silent consumers, finishing our
own pending entries, poison pills, graceful stop."""

from __future__ import annotations

import asyncio
import json
import time

from shared.jobs import DEAD_LETTERS, GROUP, Job, delayed_key, stream_of, thumbnails_job, welcome_job
from tests.conftest import until

from .conftest import CollectSender, dead_letters, log_events, pending_count, queue_empty


async def test_transient_failures_are_retried_with_backoff_then_dead_lettered(
        data, redis, run_worker, settings, capsys):
    """A file whose content is a folder: opening it raises IsADirectoryError
    (an OSError, i.e. transient) every time."""
    user_id = await data.user()
    file_id, path = await data.image(user_id, "hopper.jpg")
    import os
    os.unlink(path)
    os.mkdir(path)
    s = settings.replace(worker={"max_attempts": 4, "retry_base_delay": 0.02})
    await run_worker(s)
    entry_id = await data.enqueue(thumbnails_job(file_id, user_id))
    await until(lambda: redis.xlen(DEAD_LETTERS), what="the dead letter")
    [letter] = await dead_letters(redis)
    assert letter["kind"] == "thumbnails"
    assert letter["attempts"] == "4"
    assert letter["error"].startswith("IsADirectoryError")
    assert json.loads(letter["data"]) == {"fileId": file_id, "userId": user_id}
    assert letter["original_id"] != entry_id  # the last try was a re-queued entry
    assert await queue_empty(redis)
    assert await redis.zcard(delayed_key(stream_of("thumbnails"))) == 0
    events = log_events(capsys.readouterr().out)
    retries = [e for e in events if e["event"] == "job.retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert [e["delay"] for e in retries] == [0.02, 0.04, 0.08]  # doubling
    assert all("Traceback" in e["exception"] for e in retries)  # logged with the traceback
    [dead] = [e for e in events if e["event"] == "job.dead"]
    assert dead["attempt"] == 4 and dead["error"].startswith("IsADirectoryError")


async def test_retry_delay_is_capped(data, redis, run_worker, settings, capsys):
    calls = []

    async def failing(job: Job) -> None:
        calls.append(job.attempts)
        raise OSError("disk on fire")

    s = settings.replace(worker={"max_attempts": 4, "retry_base_delay": 0.02, "retry_max_delay": 0.03})
    await run_worker(s, handlers={"flaky": failing})
    await redis.xadd(stream_of("flaky"), Job("flaky", {}).fields())
    await until(lambda: redis.xlen(DEAD_LETTERS), what="the dead letter")
    assert calls == [0, 1, 2, 3]
    delays = [e["delay"] for e in log_events(capsys.readouterr().out) if e["event"] == "job.retry"]
    assert delays == [0.02, 0.03, 0.03]


async def test_an_unexpected_exception_is_contained_and_the_worker_goes_on(
        data, redis, run_worker, settings, capsys):
    seen: list[tuple[str, int]] = []

    async def handler(job: Job) -> None:
        seen.append((job.payload["n"], job.attempts))
        if job.payload["n"] == "bad" and job.attempts < 2:
            raise KeyError("surprise")

    await run_worker(handlers={"mixed": handler})
    for n in ("bad", "good1", "good2"):
        await redis.xadd(stream_of("mixed"), Job("mixed", {"n": n}).fields())
    await until(lambda: ("bad", 2) in seen and len(seen) == 5, what="the retried job to succeed")
    await until(lambda: queue_empty(redis, ("mixed",)), what="all acked")
    assert sorted(seen) == [("bad", 0), ("bad", 1), ("bad", 2), ("good1", 0), ("good2", 0)]
    assert await redis.xlen(DEAD_LETTERS) == 0
    retries = [e for e in log_events(capsys.readouterr().out) if e["event"] == "job.retry"]
    assert len(retries) == 2  # once per failure
    assert all("KeyError: 'surprise'" in e["exception"] for e in retries)


async def test_entries_of_a_silent_consumer_are_claimed(data, redis, run_worker, settings):
    """Another consumer read two jobs and died; one of them was deleted since."""
    user_id = await data.user("late@example.com")
    stream = stream_of("welcome")
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    first = await data.enqueue(welcome_job(user_id))
    gone = await data.enqueue(welcome_job(user_id))
    await redis.xreadgroup(GROUP, "dead-consumer", {stream: ">"}, count=10)
    await redis.xdel(stream, gone)
    assert await pending_count(redis, stream) == 2

    sender = CollectSender()
    await run_worker(settings.replace(worker={"claim_idle": 0.3}), sender=sender)
    await until(lambda: sender.sent, what="the claimed job to run")
    await until(lambda: _no_pending(redis, stream), what="nothing pending")
    await until(lambda: queue_empty(redis), what="the surviving entry acked and deleted")
    assert sender.sent == ["late@example.com"]  # the deleted entry did not run
    assert await redis.xrange(stream) == []
    del first


async def _no_pending(redis, stream: str) -> bool:
    return await pending_count(redis, stream) == 0


async def test_a_named_worker_first_finishes_its_own_pending_entries(data, redis, run_worker, settings):
    """The claim timeout is long here: only the own-pending read can explain the run."""
    stream = stream_of("thumbnails")
    user_id = await data.user()
    file_id, path = await data.image(user_id, "hopper.jpg")
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await data.enqueue(thumbnails_job(file_id, user_id))
    await redis.xreadgroup(GROUP, "worker-7", {stream: ">"}, count=10)  # read, then "crashed"
    await run_worker(settings.replace(worker={"claim_idle": 600.0}), name="worker-7")
    await until(lambda: _no_pending(redis, stream), what="the own pending entry acked")
    import os
    assert all(os.path.exists(f"{path}_{w}") for w in (500, 250, 100))
    assert await queue_empty(redis)


async def test_a_job_delivered_too_often_is_dead_lettered(data, redis, run_worker, settings):
    """A poison pill that kills every worker running it: its delivery count
    grows with each claim, and past max_attempts it goes to the dead letters."""
    calls = []

    async def handler(job: Job) -> None:
        calls.append(job)

    stream = stream_of("poison")
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    entry_id = await redis.xadd(stream, Job("poison", {"n": 1}).fields())
    await redis.xreadgroup(GROUP, "victim", {stream: ">"})
    # as if five workers had claimed it and died: XCLAIM sets the delivery count
    await redis.xclaim(stream, GROUP, "victim", 0, [entry_id], retrycount=5)
    await run_worker(settings.replace(worker={"max_attempts": 5, "claim_idle": 0.2}),
                     handlers={"poison": handler})
    await until(lambda: redis.xlen(DEAD_LETTERS), what="the dead letter")
    [letter] = await dead_letters(redis)
    assert letter["error"].startswith("Stalled: delivered 6 times")
    assert calls == []
    assert await _no_pending(redis, stream)


async def test_graceful_stop_finishes_jobs_in_hand_and_reads_no_more(redis, run_worker, settings):
    release = asyncio.Event()
    started: list[int] = []
    finished: list[int] = []

    async def slow(job: Job) -> None:
        started.append(job.payload["n"])
        await release.wait()
        finished.append(job.payload["n"])

    stream = stream_of("slow")
    running = await run_worker(settings.replace(worker={"concurrency": 3}), handlers={"slow": slow})
    for n in range(5):
        await redis.xadd(stream, Job("slow", {"n": n}).fields())
    await until(lambda: len(started) == 3, what="three jobs in hand")
    running.worker.stop(10.0)
    asyncio.get_running_loop().call_later(0.1, release.set)
    await asyncio.wait_for(running.task, 10)
    assert sorted(finished) == [0, 1, 2]
    assert len(started) == 3  # nothing read after the stop
    assert await redis.xlen(stream) == 2  # the two unread jobs wait for the next consumer
    assert await _no_pending(redis, stream)
    assert running.worker.counts["done"] == 3


async def test_past_the_deadline_jobs_stay_pending(redis, run_worker, settings):
    started = []

    async def stuck(job: Job) -> None:
        started.append(job)
        await asyncio.Event().wait()

    stream = stream_of("stuck")
    running = await run_worker(handlers={"stuck": stuck})
    await redis.xadd(stream, Job("stuck", {}).fields())
    await until(lambda: started, what="the job in hand")
    running.worker.stop(0.2)
    await asyncio.wait_for(running.task, 10)
    assert running.worker.counts["abandoned"] == 1
    assert await pending_count(redis, stream) == 1  # not acked: the next consumer gets it
    assert await redis.xlen(stream) == 1
    # and another worker does get it, once it has been silent long enough
    finished = []

    async def quick(job: Job) -> None:
        finished.append(job)

    await run_worker(settings.replace(worker={"claim_idle": 0.2}), handlers={"stuck": quick})
    await until(lambda: finished, what="the job claimed by the next worker")
    await until(lambda: _no_pending(redis, stream), what="acked")


async def test_concurrency_limits_jobs_in_hand(redis, run_worker, settings):
    running_now = 0
    peak = 0

    async def job(_: Job) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await asyncio.sleep(0.005)
        running_now -= 1

    stream = stream_of("limited")
    await run_worker(settings.replace(worker={"concurrency": 4}), handlers={"limited": job})
    pipe = redis.pipeline(transaction=False)
    for n in range(100):
        pipe.xadd(stream, Job("limited", {"n": n}).fields())
    await pipe.execute()
    await until(lambda: queue_empty(redis, ("limited",)), what="all done")
    assert peak == 4


async def test_a_job_slower_than_claim_idle_is_not_taken_by_another_worker(redis, run_worker, settings):
    """Two workers; the job runs for 3x claim_idle. The one holding it keeps
    refreshing its claim, so the other never claims it and it runs once."""
    runs: list[str] = []
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        runs.append("run")
        await release.wait()

    s = settings.replace(worker={"claim_idle": 0.4})
    await run_worker(s, handlers={"slow": slow})
    await run_worker(s, handlers={"slow": slow})
    stream = stream_of("slow")
    await redis.xadd(stream, Job("slow", {}).fields())
    await until(lambda: runs, what="the job started")
    idle_seen = []
    until_t = time.monotonic() + 1.2  # 3x claim_idle

    async def sample() -> bool:
        [row] = await redis.xpending_range(stream, GROUP, "-", "+", 1)
        idle_seen.append(row["time_since_delivered"])
        return time.monotonic() > until_t

    await until(sample, what="1.2 s of samples")
    assert max(idle_seen) < 400  # never idle long enough to be claimable
    release.set()
    await until(lambda: queue_empty(redis, ("slow",)), what="acked")
    assert runs == ["run"]


async def test_quick_jobs_are_acked_while_a_slow_one_holds_a_slot(redis, run_worker, settings):
    """Acks must not wait for a read: with every slot but one taken by a job
    that never ends, the quick jobs around it are still acked and deleted."""
    release = asyncio.Event()
    quick_done: list[int] = []

    async def slow(job: Job) -> None:
        await release.wait()

    async def quick(job: Job) -> None:
        quick_done.append(job.payload["n"])

    await run_worker(settings.replace(worker={"concurrency": 2}),
                     handlers={"slow": slow, "quick": quick})
    await redis.xadd(stream_of("slow"), Job("slow", {}).fields())
    pipe = redis.pipeline(transaction=False)
    for n in range(30):
        pipe.xadd(stream_of("quick"), Job("quick", {"n": n}).fields())
    await pipe.execute()
    await until(lambda: len(quick_done) == 30, what="the quick jobs done")
    await until(lambda: queue_empty(redis, ("quick",)), what="the quick jobs acked and deleted")
    assert await _no_pending(redis, stream_of("quick"))
    assert await pending_count(redis, stream_of("slow")) == 1  # still running
    release.set()
    await until(lambda: queue_empty(redis, ("slow",)), what="the slow job acked")


async def test_stop_before_start_and_twice_is_fine(redis, settings):
    from services.worker.consumer import JobWorker

    worker = JobWorker(settings)
    worker.stop(1.0)
    await worker.start()
    await asyncio.wait_for(worker.run(), 5)  # returns at once: it was told to stop
    worker.stop()
    worker.stop(0)
    await worker.close()
    await worker.close()
    assert worker.counts == {"done": 0, "skipped": 0, "retried": 0, "dead": 0, "abandoned": 0}
    # it created the groups all the same
    assert [g["name"] for g in await redis.xinfo_groups(stream_of("welcome"))] == [GROUP.encode()]


def test_default_consumer_names_are_unique_per_worker(settings):
    import os

    from services.worker.consumer import JobWorker

    names = {JobWorker(settings).name for _ in range(20)}
    assert len(names) == 20
    assert all(f":{os.getpid()}:" in name for name in names)
    assert JobWorker(settings, name="fixed").name == "fixed"
